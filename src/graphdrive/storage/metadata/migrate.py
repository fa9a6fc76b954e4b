"""Apply Alembic migrations to the metadata database (on start, or `graphdrive migrate`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from graphdrive.storage.metadata.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


async def migrate(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to run from several processes at once."""

    def upgrade(connection: Connection) -> None:
        command.upgrade(_config(connection), revision)

    async with db.write() as conn:
        if db.dialect == "postgresql":
            # One migrator at a time across processes; released at commit.
            await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7245001)")
        await conn.run_sync(upgrade)
