"""Use cases of the drive: what the API (and later the CLI) asks for, on storage ports."""
