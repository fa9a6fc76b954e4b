"""Metadata storage: schema, migrations, the database unit of work, and repositories."""
