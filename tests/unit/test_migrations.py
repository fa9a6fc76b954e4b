"""The Alembic migrations build exactly the schema declared in storage/metadata/schema.py.

Fails when someone changes ``schema.py`` without a migration, or a migration without
``schema.py``. Every table in ``metadata`` is compared, so new tables are covered as they come.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, ForeignKeyConstraint, Table, UniqueConstraint, inspect, text

from graphdrive.storage.metadata.database import Database, open_database
from graphdrive.storage.metadata.migrate import MIGRATIONS, _config, migrate
from graphdrive.storage.metadata.schema import metadata

Shape = dict[str, Any]


def declared_shape(table: Table) -> Shape:
    """What ``schema.py`` says one table looks like."""
    return {
        "columns": {c.name: c.nullable for c in table.columns},
        "primary_key": [c.name for c in table.primary_key.columns],
        "indexes": {
            ix.name: ([c.name for c in ix.columns], bool(ix.unique)) for ix in table.indexes
        },
        "unique_constraints": {
            uq.name: [c.name for c in uq.columns]
            for uq in table.constraints
            if isinstance(uq, UniqueConstraint)
        },
        "foreign_keys": {
            fk.name: (
                [c.name for c in fk.columns],
                fk.referred_table.name,
                [e.column.name for e in fk.elements],
            )
            for fk in table.constraints
            if isinstance(fk, ForeignKeyConstraint)
        },
    }


def reflected_shapes(conn: Connection) -> dict[str, Shape]:
    """What the migrated database actually holds, table by table."""
    inspector = inspect(conn)
    shapes: dict[str, Shape] = {}
    for name in inspector.get_table_names():
        if name == "alembic_version":
            continue
        shapes[name] = {
            "columns": {c["name"]: c["nullable"] for c in inspector.get_columns(name)},
            "primary_key": inspector.get_pk_constraint(name)["constrained_columns"],
            "indexes": {
                ix["name"]: (ix["column_names"], bool(ix["unique"]))
                for ix in inspector.get_indexes(name)
            },
            "unique_constraints": {
                uq["name"]: uq["column_names"] for uq in inspector.get_unique_constraints(name)
            },
            "foreign_keys": {
                fk["name"]: (
                    fk["constrained_columns"],
                    fk["referred_table"],
                    fk["referred_columns"],
                )
                for fk in inspector.get_foreign_keys(name)
            },
        }
    return shapes


def alembic_version(conn: Connection) -> list[str]:
    return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path}/m.db")
    await migrate(database)
    yield database
    await database.dispose()


async def shapes_of(db: Database) -> dict[str, Shape]:
    async with db.read() as conn:
        return await conn.run_sync(reflected_shapes)


async def test_migrations_create_every_declared_table_and_no_other(db: Database) -> None:
    assert sorted(await shapes_of(db)) == sorted(metadata.tables)


@pytest.mark.parametrize("table", sorted(metadata.tables))
async def test_migrated_table_matches_schema(db: Database, table: str) -> None:
    reflected = await shapes_of(db)
    assert table in reflected, f"no migration creates table {table!r}"
    assert reflected[table] == declared_shape(metadata.tables[table])


async def test_alembic_autogenerate_finds_no_difference(db: Database) -> None:
    # A second opinion that also compares column types and foreign-key options.
    async with db.read() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
    assert diff == []


async def test_database_is_at_the_head_revision(db: Database) -> None:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    async with db.read() as conn:
        assert await conn.run_sync(alembic_version) == [head]


async def test_migrating_twice_is_a_no_op(db: Database) -> None:
    async with db.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO drives (id, owner_id, owner_name, root_id, created_at)"
                " VALUES ('D1', 'u1', 'Ada', 'R1', '2024-01-01 00:00:00')"
            )
        )
    before = await shapes_of(db)
    async with db.read() as conn:
        version = await conn.run_sync(alembic_version)

    await migrate(db)

    assert await shapes_of(db) == before
    async with db.read() as conn:
        assert await conn.run_sync(alembic_version) == version
        owners = (await conn.execute(text("SELECT owner_id FROM drives"))).scalars().all()
    assert owners == ["u1"]


async def test_rebuilding_copy_nodes_keeps_the_snapshots_of_copies_in_flight(
    tmp_path: Path,
) -> None:
    database = open_database(f"sqlite+aiosqlite:///{tmp_path}/old.db")
    try:
        await migrate(database, "0003")
        async with database.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO copy_nodes (op_id, seq, parent_seq, src_id, name, name_key,"
                    " is_folder, size, blob_key) VALUES ('OP', 1, NULL, 'S1', 'A', 'a', 1, 0,"
                    " NULL), ('OP', 2, 1, 'S2', 'b.txt', 'b.txt', 0, 3, 'k')"
                )
            )
        await migrate(database)
        async with database.read() as conn:
            rows = (
                await conn.execute(
                    text("SELECT seq, parent_seq, src_id, blob_key FROM copy_nodes ORDER BY seq")
                )
            ).all()
            storage = (
                await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'copy_nodes'"))
            ).scalar_one()
        assert [tuple(r) for r in rows] == [(1, None, "S1", None), (2, 1, "S2", "k")]
        assert "WITHOUT ROWID" in storage
        assert (await shapes_of(database))["copy_nodes"] == declared_shape(
            metadata.tables["copy_nodes"]
        )
        async with database.write() as conn:  # and back
            await conn.run_sync(lambda sync: command.downgrade(_config(sync), "0003"))
        assert (await shapes_of(database))["copy_nodes"]["indexes"] == {
            "ix_copy_nodes_blob_key": (["blob_key"], False)
        }
    finally:
        await database.dispose()
