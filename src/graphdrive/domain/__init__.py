"""Pure drive rules (no I/O): see README.md in this folder."""
