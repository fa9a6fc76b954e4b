"""Routes by resource: drives, items, content, downloads, health."""
