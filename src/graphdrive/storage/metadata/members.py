"""SQL for shared libraries' members: who besides a drive's owner may use it, and how."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.domain.items import LIBRARY, WRITE, Drive
from graphdrive.storage.metadata.items import to_drive
from graphdrive.storage.metadata.schema import drive_members, drives


class MemberRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def role(self, drive_id: str, user_id: str) -> str | None:
        """The member's role (``read`` or ``write``); None for a non-member."""
        stmt = select(drive_members.c.role).where(
            drive_members.c.drive_id == drive_id, drive_members.c.user_id == user_id
        )
        return (await self.conn.execute(stmt)).scalar()

    async def members(self, drive_id: str) -> list[tuple[str, str]]:
        """(user id, role) of every member, by user id."""
        stmt = (
            select(drive_members.c.user_id, drive_members.c.role)
            .where(drive_members.c.drive_id == drive_id)
            .order_by(drive_members.c.user_id)
        )
        return [(str(r.user_id), str(r.role)) for r in await self.conn.execute(stmt)]

    async def libraries_of(self, user_id: str) -> list[Drive]:
        stmt = (
            select(drives)
            .join(drive_members, drive_members.c.drive_id == drives.c.id)
            .where(drive_members.c.user_id == user_id, drives.c.kind == LIBRARY)
            .order_by(drives.c.owner_name, drives.c.id)
        )
        return [to_drive(r) for r in await self.conn.execute(stmt)]

    async def libraries(self) -> list[Drive]:
        stmt = select(drives).where(drives.c.kind == LIBRARY).order_by(drives.c.owner_name)
        return [to_drive(r) for r in await self.conn.execute(stmt)]

    async def add(self, drive_id: str, user_id: str, role: str = WRITE) -> bool:
        """Make a user a member with ``role`` (changing the role of a member); False if they
        already were a member with that role."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(
                    insert(drive_members).values(drive_id=drive_id, user_id=user_id, role=role)
                )
        except IntegrityError:
            changed = await self.conn.execute(
                update(drive_members)
                .where(
                    drive_members.c.drive_id == drive_id,
                    drive_members.c.user_id == user_id,
                    drive_members.c.role != role,
                )
                .values(role=role)
            )
            return bool(changed.rowcount)
        return True

    async def remove(self, drive_id: str, user_id: str) -> bool:
        """Remove a member; False if they were not one."""
        result = await self.conn.execute(
            delete(drive_members).where(
                drive_members.c.drive_id == drive_id, drive_members.c.user_id == user_id
            )
        )
        return bool(result.rowcount)
