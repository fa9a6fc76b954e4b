"""Helpers that start real services for the tests (SeaweedFS for S3, …)."""
