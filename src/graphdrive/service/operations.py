"""Starting long-running actions and reading their status (monitor and owner views)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from graphdrive.auth import Principal
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.items import Item
from graphdrive.domain.names import storable, validate_name
from graphdrive.exceptions import InvalidRequest, ItemNotFound, UnprocessableEntity
from graphdrive.operations.actions import ActionRegistry
from graphdrive.operations.model import Operation, OperationStatus
from graphdrive.operations.store import OperationStore
from graphdrive.operations.tokens import MonitorTokens
from graphdrive.service.clock import utcnow
from graphdrive.service.drives import Address, DriveService, locate
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository, new_id

IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 255  # operations.idempotency_key is a VARCHAR(255)


@dataclass(frozen=True, slots=True)
class CopyRequest:
    dest_drive: str | None
    dest_id: str | None
    dest_path: tuple[str, ...] | None
    name: str | None
    children_only: bool
    conflict: ConflictBehavior

    def fingerprint(self, source: Address) -> str:
        canonical = json.dumps(
            {
                "source": [source.drive, source.item, list(source.path)],
                "dest": [self.dest_drive, self.dest_id, self.dest_path and list(self.dest_path)],
                "name": self.name,
                "childrenOnly": self.children_only,
                "conflict": self.conflict.value,
            },
            sort_keys=True,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Report:
    operation: Operation
    waiting: bool


class OperationService:
    def __init__(
        self,
        db: Database,
        drives: DriveService,
        tokens: MonitorTokens,
        registry: ActionRegistry,
        *,
        notify: Callable[[], None],
        max_per_owner: int,
        retention_seconds: float,
    ) -> None:
        self.retention_seconds = retention_seconds
        self.db = db
        self.drives = drives
        self.tokens = tokens
        self.registry = registry
        self.notify = notify
        self.max_per_owner = max_per_owner

    async def start_copy(
        self,
        principal: Principal,
        source: Address,
        request: CopyRequest,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Validate what can be validated now, durably record the copy; return its token."""
        principal.require_write()
        if request.name is not None:
            validate_name(request.name)
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidRequest(
                f"The Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters."
            )
        src_drive = await self.drives.drive_for(principal, source.drive)
        dest_drive = await self.drives.drive_for(principal, request.dest_drive or source.drive)
        fingerprint = request.fingerprint(source)
        now = utcnow()
        async with self.db.write() as conn:
            store = OperationStore(conn)
            if idempotency_key:
                await store.lock_idempotency_key(principal.user_id, idempotency_key)
                earlier = await store.by_idempotency_key(principal.user_id, idempotency_key)
                if earlier is not None:
                    op, earlier_hash = earlier
                    if op.created_at + IDEMPOTENCY_WINDOW < now:
                        await store.forget_idempotency_key(op.id)
                    elif earlier_hash != fingerprint:
                        raise UnprocessableEntity(
                            "This Idempotency-Key was used with a different request."
                        )
                    else:
                        return self.tokens.issue(op.id)
            repo = ItemRepository(conn)
            src = (await locate(repo, src_drive, source.item, source.path)).item
            dest = await self._destination(repo, src, request, dest_drive.id, src_drive.root_id)
            if dest.drive_id == src.drive_id and src.is_folder:
                chain = await repo.ancestors(dest.id)
                if any(a.id == src.id for a in chain):
                    raise InvalidRequest("A folder cannot be copied into itself or its children.")
            op_id = new_id()
            token = self.tokens.issue(op_id)
            await store.create(
                id=op_id,
                action="copy",
                owner_id=principal.user_id,
                params={
                    "source_id": src.id,
                    "source_drive_id": src_drive.id,
                    "dest_parent_id": dest.id,
                    "dest_drive_id": dest_drive.id,
                    "name": request.name,
                    "children_only": request.children_only,
                    "conflict": request.conflict.value,
                    "user_id": principal.user_id,
                    "user_name": principal.display_name,
                },
                monitor_hash=self.tokens.digest(token),
                idempotency_key=idempotency_key,
                request_hash=fingerprint if idempotency_key else None,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        self.notify()
        return token

    async def _destination(
        self,
        repo: ItemRepository,
        src: Item,
        request: CopyRequest,
        dest_drive_id: str,
        src_root_id: str,
    ) -> Item:
        if src.is_root:
            raise InvalidRequest("The root folder cannot be copied.")
        if request.children_only and not src.is_folder:
            raise InvalidRequest("childrenOnly can only be used when copying a folder.")
        if request.children_only and request.name is not None:
            raise InvalidRequest("name cannot be given together with childrenOnly.")
        drive = await repo.drive(dest_drive_id)
        if drive is None:  # pragma: no cover - resolved by the caller
            raise ItemNotFound("The destination drive does not exist.")
        if request.dest_id is None and request.dest_path is None:
            if request.dest_drive not in (None, src.drive_id):
                target = await locate(repo, drive, "root")
            else:
                target = await locate(repo, drive, src.parent_id or src_root_id)
        else:
            target = await locate(repo, drive, request.dest_id or "root", request.dest_path or ())
        if not target.item.is_folder:
            raise InvalidRequest("The destination (parentReference) must be a folder.")
        return target.item

    # -- status ---------------------------------------------------------------------------------
    async def by_token(self, token: str) -> Report:
        async with self.db.read() as conn:
            store = OperationStore(conn)
            op = await store.by_monitor_hash(self.tokens.digest(token))
            if op is None:
                raise ItemNotFound("This monitor does not exist or has expired.")
            return await self._report(store, op)

    async def by_id(self, principal: Principal, op_id: str) -> Report:
        if not storable(op_id):  # no operation id holds one; PostgreSQL could not look it up
            raise ItemNotFound("The operation does not exist.")
        async with self.db.read() as conn:
            store = OperationStore(conn)
            op = await store.get(op_id)
            if op is None or op.owner_id != principal.user_id:
                raise ItemNotFound("The operation does not exist.")
            return await self._report(store, op)

    async def _report(self, store: OperationStore, op: Operation) -> Report:
        if op.expires_at is not None and op.expires_at < utcnow():
            raise ItemNotFound("This monitor does not exist or has expired.")
        waiting = False
        if op.status is OperationStatus.NOT_STARTED:
            waiting = await store.active_count(op.owner_id) >= self.max_per_owner
        return Report(op, waiting)

    async def list(
        self,
        principal: Principal,
        *,
        statuses: list[str] | None,
        before: tuple[Any, str] | None,
        limit: int,
    ) -> list[Operation]:
        async with self.db.read() as conn:
            return await OperationStore(conn).list_for_owner(
                principal.user_id, statuses=statuses, before=before, limit=limit
            )

    async def cancel(self, op: Operation) -> None:
        """Cancel a running operation, or revoke the monitor of a finished one."""
        async with self.db.write() as conn:
            store = OperationStore(conn)
            current = await store.get(op.id)
            if current is None:
                raise ItemNotFound("The operation does not exist.")
            if current.status.finished:
                await store.revoke_monitor(op.id)
            else:
                await store.request_cancel(current, utcnow(), self.retention_seconds)
        self.notify()

    def monitor_token(self, op: Operation) -> str:
        return self.tokens.issue(op.id)

    def operation_name(self, op: Operation) -> str:
        return self.registry.operation_name(op.action)
