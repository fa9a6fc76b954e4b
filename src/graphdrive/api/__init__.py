"""The ASGI app: Graph routes, authentication, and the one place errors are rendered."""
