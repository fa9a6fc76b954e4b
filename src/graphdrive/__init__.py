"""graphdrive: a self-hostable, Microsoft Graph-compatible drive service."""

__version__ = "0.1.0"
