"""On PostgreSQL, a process serving monitors hears when another process changes an operation
(progress, end, cancel request), so its long-polling monitors answer at once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from graphdrive.bootstrap import Container
from graphdrive.operations.model import OperationStatus
from graphdrive.operations.store import OperationStore
from graphdrive.service.clock import utcnow
from graphdrive.storage.metadata.database import open_database
from tests.contract.test_metadata_copy_engine import (
    LEASE,
    claim,
    container,
    create_copy,
    seed,
)

if TYPE_CHECKING:  # imported by pytest_plugins below, which lets pytest rewrite its asserts
    from tests.contract.metadata_backends import MetadataBackend  # noqa: F401

pytest_plugins = ["tests.contract.metadata_backends"]
__all__ = ["container"]  # a fixture: a container on every metadata backend

BOUND = 20.0  # seconds: only a bound for a broken build, not a measurement


async def test_monitors_hear_of_changes_made_by_another_process(container: Container) -> None:
    app = container
    if app.db.dialect != "postgresql":
        pytest.skip("PostgreSQL only: with SQLite the workers share the monitors' process")
    app.start_news()
    tree = await seed(app.db)
    op_id = await create_copy(app.db, tree)
    other = open_database(app.settings.resolved_database_url)  # "another process"
    try:
        op = await claim(other, "elsewhere")
        assert op is not None and op.id == op_id
        await asyncio.sleep(0.5)  # the LISTEN connection is up

        heard = asyncio.create_task(app.operations.changes.wait(op_id, BOUND))
        await asyncio.sleep(0)
        async with other.write() as conn:
            op, _ = await OperationStore(conn).advance(
                op, "elsewhere", utcnow(), LEASE, totals=(10, 39), items=2
            )
        assert await heard is True

        heard = asyncio.create_task(app.operations.changes.wait(op_id, BOUND))
        await asyncio.sleep(0)
        async with other.write() as conn:
            await OperationStore(conn).finish(
                op, "elsewhere", OperationStatus.FAILED, utcnow(), 3600, error_code="x"
            )
        assert await heard is True
    finally:
        await other.dispose()
