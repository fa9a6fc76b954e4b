"""End-to-end tests: a real `graphdrive serve` process, real HTTP, real SQLite and files."""
