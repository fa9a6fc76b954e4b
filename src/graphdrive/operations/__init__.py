"""The long-running-action engine: see README.md in this folder."""
