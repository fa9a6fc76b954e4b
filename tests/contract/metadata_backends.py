"""The metadata backends every metadata contract suite runs against: SQLite and PostgreSQL.

``metadata_backend`` is parametrised over both engines and gives an empty, migrated database
per test; ``metadata_db`` is an open :class:`Database` on it. Tests that need a second
"process" on the same database (a concurrent worker) call :meth:`MetadataBackend.open`.

PostgreSQL runs only when ``GRAPHDRIVE_TEST_POSTGRES_URL`` names an admin URL (CI sets it).
The schema is migrated once per session into a template database (``gdc_<pid>_template``);
each test module gets ``CREATE DATABASE gdc_<pid>_<n> TEMPLATE …`` (dropped after the module)
and each test starts with every table emptied. Databases left behind by a dead run (its pid
is gone) are dropped at the next run's start.
Test modules load this module with ``pytest_plugins = ["tests.contract.metadata_backends"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from graphdrive.storage.metadata import schema
from graphdrive.storage.metadata.database import Database, open_database
from graphdrive.storage.metadata.migrate import migrate

POSTGRES_ENV = "GRAPHDRIVE_TEST_POSTGRES_URL"
SKIP_POSTGRES = (
    f"set {POSTGRES_ENV}=postgresql://postgres@127.0.0.1:5432/test "
    "to run the PostgreSQL contract tests (CI does)"
)
_PREFIX = "gdc_"
_counter = itertools.count(1)


@dataclass
class MetadataBackend:
    """One engine's empty, migrated database: its name (``sqlite``/``postgres``) and URL."""

    name: str
    url: str
    _opened: list[Database] = field(default_factory=list, repr=False)

    def open(self) -> Database:
        """Another engine (its own connection pool) on the same database: a second process."""
        db = open_database(self.url)
        self._opened.append(db)
        return db

    async def close(self) -> None:
        for db in self._opened:
            await db.dispose()
        self._opened.clear()


def _database_url(admin_url: str, database: str) -> str:
    return make_url(admin_url).set(database=database).render_as_string(hide_password=False)


def _libpq_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pid_alive(name: str) -> bool:
    try:
        os.kill(int(name.split("_")[1]), 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _run_in_thread(coro_factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine on a private event loop (session fixtures have none of their own)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro_factory())
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[tuple[str, str]]:
    """(admin libpq URL, name of a migrated template database); skips without PostgreSQL."""
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        pytest.skip(SKIP_POSTGRES)
    import psycopg

    admin = _libpq_url(admin)
    template = f"{_PREFIX}{os.getpid()}_template"
    with psycopg.connect(admin, autocommit=True) as conn:
        stale = [
            row[0]
            for row in conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", (_PREFIX + "%",)
            )
        ]
        for name in stale:
            if not _pid_alive(name):
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{template}"')

    async def migrate_template() -> None:
        db = open_database(_database_url(admin, template))
        try:
            await migrate(db)
        finally:
            await db.dispose()

    try:
        _run_in_thread(migrate_template)
        yield admin, template
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def metadata_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[MetadataBackend]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}"
        db = open_database(url)
        try:
            await migrate(db)
        finally:
            await db.dispose()
        backend = MetadataBackend("sqlite", url)
        try:
            yield backend
        finally:
            await backend.close()
        return

    # One database per test module (CREATE DATABASE is slow on a busy machine), emptied
    # before each test: every test still starts from a migrated, empty schema.
    url = request.getfixturevalue("postgres_module_database")
    backend = MetadataBackend("postgres", url)
    db = backend.open()
    async with db.write() as conn:
        for table in reversed(schema.metadata.sorted_tables):
            await conn.execute(table.delete())
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture(scope="module")
def postgres_module_database(postgres_template: tuple[str, str]) -> Iterator[str]:
    """A database cloned from the migrated template for one test module; dropped after it."""
    import psycopg

    admin, template = postgres_template
    name = f"{_PREFIX}{os.getpid()}_{next(_counter)}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield _database_url(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def metadata_db(metadata_backend: MetadataBackend) -> Database:
    """A migrated metadata :class:`Database` on every backend (disposed after the test)."""
    return metadata_backend.open()
