"""Finding drives and items: provisioning, access checks and Graph addressing.

Access rule: a user reaches their own drive and the shared libraries they are a member of.
Anything else answers ``itemNotFound``, so the existence and names of other users' items never
leak. A library member with the ``read`` role may read it and copy from it; changing it answers
``accessDenied`` (403).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.auth import Principal
from graphdrive.domain.items import LIBRARY, READ, ROLES, WRITE, Drive, Item, Located
from graphdrive.domain.names import name_key, storable
from graphdrive.exceptions import AccessDenied, InvalidRequest, ItemNotFound
from graphdrive.lru import LRU
from graphdrive.service.clock import utcnow
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import Ancestor, ItemRepository
from graphdrive.storage.metadata.members import MemberRepository

ME = "me"


@dataclass(frozen=True, slots=True)
class Address:
    """Where a request points: a drive, an item (id or ``root``), and an optional path."""

    drive: str  # a drive id or ME
    item: str = "root"
    path: tuple[str, ...] = ()


class DriveService:
    def __init__(self, db: Database, *, cache_size: int = 10_000) -> None:
        self.db = db
        # A drive row never changes once created and is never deleted, so every process may
        # remember it: most requests then resolve their drive without a query.
        self._by_owner: LRU[str, Drive] = LRU(cache_size)
        self._by_id: LRU[str, Drive] = LRU(cache_size)

    async def drive_for(
        self, principal: Principal, drive: str = ME, *, write: bool = False
    ) -> Drive:
        """The drive a request names, provisioning the user's own drive on first use;
        ``write``: the request changes the drive (a reader gets ``accessDenied``)."""
        if drive != ME:
            found = await self.drive(drive)
            if found is None:
                raise ItemNotFound("The drive does not exist or you cannot access it.")
            if found.is_library:
                async with self.db.glance() as conn:
                    await check_access(conn, found, principal.user_id, write=write)
            else:  # a personal drive needs no query
                _check_owner(found, principal.user_id)
            return found
        found = self._by_owner.get(principal.user_id)
        if found is not None:
            return found
        found = await self._own_drive(principal)
        self._remember(found)
        return found

    async def drive(self, drive_id: str) -> Drive | None:
        """A drive by id, remembered once read; no access check (see :meth:`drive_for`)."""
        found = self._by_id.get(drive_id)
        if found is None:
            if not storable(drive_id):  # no drive id holds one; PostgreSQL couldn't look it up
                return None
            async with self.db.glance() as conn:
                found = await ItemRepository(conn).drive(drive_id)
            if found is not None:
                self._remember(found)
        return found

    def _remember(self, drive: Drive) -> None:
        if not drive.is_library:
            self._by_owner.put(drive.owner_id, drive)
        self._by_id.put(drive.id, drive)

    async def drives_of(self, principal: Principal) -> list[Drive]:
        """The caller's own drive, then the libraries they are a member of."""
        own = await self.drive_for(principal, ME)
        async with self.db.glance() as conn:
            return [own, *await MemberRepository(conn).libraries_of(principal.user_id)]

    # -- shared libraries (administration: `graphdrive library …`) ---------------------------
    async def create_library(
        self, name: str, members: Sequence[str], readers: Sequence[str] = ()
    ) -> Drive:
        if not name.strip():
            raise InvalidRequest("A library needs a name.")
        async with self.db.write() as conn:
            drive = await ItemRepository(conn).create_drive("", name, utcnow(), kind=LIBRARY)
            for user in members:
                await MemberRepository(conn).add(drive.id, user, WRITE)
            for user in readers:
                await MemberRepository(conn).add(drive.id, user, READ)
        return drive

    async def library(self, drive_id: str) -> tuple[Drive, list[tuple[str, str]]]:
        """A library and its members: (user id, role)."""
        async with self.db.read() as conn:
            drive = await ItemRepository(conn).drive(drive_id) if storable(drive_id) else None
            if drive is None or not drive.is_library:
                raise ItemNotFound(f"No library has the id {drive_id}.")
            return drive, await MemberRepository(conn).members(drive_id)

    async def libraries(self) -> list[Drive]:
        async with self.db.read() as conn:
            return await MemberRepository(conn).libraries()

    async def set_member(
        self, drive_id: str, user: str, *, member: bool, role: str = WRITE
    ) -> bool:
        """Add a member (or change their role) or remove one; False if nothing changed."""
        if role not in ROLES:
            raise InvalidRequest(f"A member's role is one of {', '.join(ROLES)}.")
        await self.library(drive_id)
        async with self.db.write() as conn:
            members = MemberRepository(conn)
            if member:
                return await members.add(drive_id, user, role)
            return await members.remove(drive_id, user)

    async def _own_drive(self, principal: Principal) -> Drive:
        async with self.db.glance() as conn:
            found = await ItemRepository(conn).drive_by_owner(principal.user_id)
        if found is not None:
            return found
        try:
            async with self.db.write() as conn:
                repo = ItemRepository(conn)
                existing = await repo.drive_by_owner(principal.user_id)
                if existing is not None:
                    return existing
                return await repo.create_drive(principal.user_id, principal.display_name, utcnow())
        except IntegrityError:  # another process created it first
            async with self.db.read() as conn:
                found = await ItemRepository(conn).drive_by_owner(principal.user_id)
            if found is None:
                raise
            return found

    async def locate(self, principal: Principal, address: Address) -> tuple[Drive, Located]:
        drive = await self.drive_for(principal, address.drive)
        async with self.db.glance() as conn:  # a few point lookups
            located = await locate(ItemRepository(conn), drive, address.item, address.path)
        return drive, located


async def check_access(
    conn: AsyncConnection, drive: Drive, user_id: str, *, write: bool = False
) -> None:
    """The access rule (see the module docstring), on ``conn``: a personal drive is its
    owner's; a library's members are asked each time, so a change of role or a removal takes
    effect at once. Raises ``itemNotFound`` for those who cannot see the drive and
    ``accessDenied`` for a reader who would change it."""
    if not drive.is_library:
        _check_owner(drive, user_id)
        return
    role = await MemberRepository(conn).role(drive.id, user_id)
    if role is None:
        raise ItemNotFound("The drive does not exist or you cannot access it.")
    if write and role != WRITE:
        raise AccessDenied("You can read this library but not change it.")


def _check_owner(drive: Drive, user_id: str) -> None:
    """A personal drive is its owner's alone."""
    if drive.owner_id != user_id:
        raise ItemNotFound("The drive does not exist or you cannot access it.")


async def locate(
    repo: ItemRepository, drive: Drive, item_id: str, path: Sequence[str] = ()
) -> Located:
    """Resolve an item id (or ``root``) plus a relative path inside ``drive``."""
    item = await _walk(repo, drive, item_id, path)
    return await located(repo, drive, item)


async def published_chain(
    repo: ItemRepository, drive: Drive, item_id: str, path: Sequence[str] = ()
) -> list[Ancestor]:
    """The addressed item and its ancestors (nearest first) up to ``drive``'s root.

    The cheap form of :func:`locate` for callers that need only ids, names and kinds: an item
    addressed by id alone costs one statement.
    """
    if path:
        start = (await _walk(repo, drive, item_id, path)).id
    else:
        _check_storable(item_id, path)
        start = drive.root_id if item_id.lower() == "root" else item_id
    chain = await repo.ancestors(start)
    if not chain or chain[-1].id != drive.root_id:  # another drive's, or not published
        raise ItemNotFound("The resource could not be found.")
    return chain


def _check_storable(item_id: str, path: Sequence[str]) -> None:
    if not storable(item_id) or not all(storable(segment) for segment in path):
        raise ItemNotFound("The resource could not be found.")  # no id or name holds a NUL


async def _walk(repo: ItemRepository, drive: Drive, item_id: str, path: Sequence[str]) -> Item:
    _check_storable(item_id, path)
    start = drive.root_id if item_id.lower() == "root" else item_id
    item = await repo.get(start)
    if item is None or item.drive_id != drive.id:
        raise ItemNotFound("The resource could not be found.")
    for segment in path:
        if not item.is_folder:
            raise ItemNotFound("The resource could not be found.")
        child = await repo.child(item.id, name_key(segment))
        if child is None:
            raise ItemNotFound("The resource could not be found.")
        item = child
    return item


async def located(repo: ItemRepository, drive: Drive, item: Item) -> Located:
    """Attach the folder path and child count; an item outside the published tree is absent."""
    chain = await repo.ancestors(item.id)
    if not chain or chain[-1].id != drive.root_id:
        raise ItemNotFound("The resource could not be found.")
    names = tuple(a.name for a in reversed(chain[1:-1]))
    counts = await repo.child_counts([item.id]) if item.is_folder else {}
    return Located(item, names, counts.get(item.id, 0))


def split_parent(path: Sequence[str]) -> tuple[tuple[str, ...], str]:
    if not path:
        raise ItemNotFound("A name is required in the path.")
    return tuple(path[:-1]), path[-1]
