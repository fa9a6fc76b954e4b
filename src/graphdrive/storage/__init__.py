"""Persistence: item metadata (SQL) and content blobs."""
