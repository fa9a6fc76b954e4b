"""Starting long-running actions and reading their status (monitor and owner views)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graphdrive.auth import Principal
from graphdrive.domain.conflicts import ConflictBehavior
from graphdrive.domain.items import Drive
from graphdrive.domain.names import storable, validate_name
from graphdrive.exceptions import InvalidRequest, ItemNotFound, UnprocessableEntity
from graphdrive.operations.actions import ActionRegistry
from graphdrive.operations.events import OperationEvents
from graphdrive.operations.intake import Intake
from graphdrive.operations.model import Operation, OperationStatus
from graphdrive.operations.store import OperationStore, new_row
from graphdrive.operations.tokens import MonitorTokens
from graphdrive.service.clock import utcnow
from graphdrive.service.drives import Address, DriveService, published_chain
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import Ancestor, ItemRepository, new_id

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
        changes: OperationEvents | None = None,
    ) -> None:
        self.changes = changes or OperationEvents()
        self.retention_seconds = retention_seconds
        self.db = db
        self.drives = drives
        self.tokens = tokens
        self.registry = registry
        self.notify = notify
        self.max_per_owner = max_per_owner
        self.intake = Intake(db)

    async def start_copy(
        self,
        principal: Principal,
        source: Address,
        request: CopyRequest,
        *,
        idempotency_key: str | None = None,
    ) -> str:
        """Validate what can be validated now, durably record the copy; return its token.

        Validation reads run before any write lock is taken; the worker checks again that both
        ends still exist when it plans the copy. Only recording the operation is a write, and
        concurrent accepts share its commit (see ``operations/intake.py``).
        """
        principal.require_write()
        if request.name is not None:
            validate_name(request.name)
        if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidRequest(
                f"The Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY} characters."
            )
        fingerprint = request.fingerprint(source)
        now = utcnow()
        if idempotency_key:
            async with self.db.glance() as conn:
                earlier = await OperationStore(conn).by_idempotency_key(
                    principal.user_id, idempotency_key
                )
            if earlier is not None and self._replay(earlier, fingerprint, now):
                return self.tokens.issue(earlier[0].id)
        src_drive = await self.drives.drive_for(principal, source.drive)
        dest_drive = await self.drives.drive_for(
            principal, request.dest_drive or source.drive, write=True
        )
        async with self.db.glance() as conn:
            src, dest_id = await self._validate(
                ItemRepository(conn), source, request, src_drive, dest_drive
            )
        op_id = new_id()
        token = self.tokens.issue(op_id)
        row = new_row(
            id=op_id,
            action="copy",
            owner_id=principal.user_id,
            params={
                "source_id": src.id,
                "source_drive_id": src_drive.id,
                # A file never becomes a folder: the worker may copy it the short way.
                "source_is_folder": src.is_folder,
                "dest_parent_id": dest_id,
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
        if idempotency_key:
            async with self.db.write() as conn:
                store = OperationStore(conn)
                await store.lock_idempotency_key(principal.user_id, idempotency_key)
                earlier = await store.by_idempotency_key(principal.user_id, idempotency_key)
                if earlier is not None:
                    if self._replay(earlier, fingerprint, now):
                        return self.tokens.issue(earlier[0].id)
                    await store.forget_idempotency_key(earlier[0].id)
                await store.create_many([row])
        else:
            await self.intake.record(row)
        self.notify()
        return token

    @staticmethod
    def _replay(earlier: tuple[Operation, str], fingerprint: str, now: datetime) -> bool:
        """True: answer with the earlier operation; False: it expired (forget its key)."""
        op, earlier_hash = earlier
        if op.created_at + IDEMPOTENCY_WINDOW < now:
            return False
        if earlier_hash != fingerprint:
            raise UnprocessableEntity("This Idempotency-Key was used with a different request.")
        return True

    async def _validate(
        self,
        repo: ItemRepository,
        source: Address,
        request: CopyRequest,
        src_drive: Drive,
        dest_drive: Drive,
    ) -> tuple[Ancestor, str]:
        """The source and the destination folder's id, or the 4xx a client should see now."""
        src_chain = await published_chain(repo, src_drive, source.item, source.path)
        src = src_chain[0]
        if src.id == src_drive.root_id:
            raise InvalidRequest("The root folder cannot be copied.")
        if request.children_only and not src.is_folder:
            raise InvalidRequest("childrenOnly can only be used when copying a folder.")
        if request.children_only and request.name is not None:
            raise InvalidRequest("name cannot be given together with childrenOnly.")
        if request.dest_id is not None or request.dest_path is not None:
            dest_chain = await published_chain(
                repo, dest_drive, request.dest_id or "root", request.dest_path or ()
            )
        elif dest_drive.id != src_drive.id:
            dest_chain = await published_chain(repo, dest_drive, "root")
        else:
            dest_chain = src_chain[1:]  # beside the source, in its parent folder
        if not dest_chain[0].is_folder:
            raise InvalidRequest("The destination (parentReference) must be a folder.")
        if src.is_folder and any(a.id == src.id for a in dest_chain):
            raise InvalidRequest("A folder cannot be copied into itself or its children.")
        return src, dest_chain[0].id

    # -- status ---------------------------------------------------------------------------------
    async def by_token(self, token: str) -> Report:
        async with self.db.glance() as conn:
            store = OperationStore(conn)
            op = await store.by_monitor_hash(self.tokens.digest(token))
            if op is None:
                raise ItemNotFound("This monitor does not exist or has expired.")
            return await self._report(store, op)

    async def by_id(self, principal: Principal, op_id: str) -> Report:
        if not storable(op_id):  # no operation id holds one; PostgreSQL could not look it up
            raise ItemNotFound("The operation does not exist.")
        async with self.db.glance() as conn:
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
        self.changes.changed(op.id)
        self.notify()

    async def wait_for_change(self, op_id: str, timeout: float) -> None:
        """Return when this process announces a change of the operation, or after
        ``timeout`` seconds (a change made by another process is only seen by reading)."""
        await self.changes.wait(op_id, timeout)

    def monitor_token(self, op: Operation) -> str:
        return self.tokens.issue(op.id)

    def operation_name(self, op: Operation) -> str:
        return self.registry.operation_name(op.action)
