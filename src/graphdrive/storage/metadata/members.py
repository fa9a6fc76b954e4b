"""SQL for shared libraries' members: who besides a drive's owner may use it."""

from __future__ import annotations

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.domain.items import LIBRARY, Drive
from graphdrive.storage.metadata.items import to_drive
from graphdrive.storage.metadata.schema import drive_members, drives


class MemberRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def is_member(self, drive_id: str, user_id: str) -> bool:
        stmt = select(drive_members.c.user_id).where(
            drive_members.c.drive_id == drive_id, drive_members.c.user_id == user_id
        )
        return (await self.conn.execute(stmt)).first() is not None

    async def members(self, drive_id: str) -> list[str]:
        stmt = (
            select(drive_members.c.user_id)
            .where(drive_members.c.drive_id == drive_id)
            .order_by(drive_members.c.user_id)
        )
        return [str(r.user_id) for r in await self.conn.execute(stmt)]

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

    async def add(self, drive_id: str, user_id: str) -> bool:
        """Add a member; False if they already were one."""
        try:
            async with self.conn.begin_nested():
                await self.conn.execute(
                    insert(drive_members).values(drive_id=drive_id, user_id=user_id)
                )
        except IntegrityError:
            return False
        return True

    async def remove(self, drive_id: str, user_id: str) -> bool:
        """Remove a member; False if they were not one."""
        result = await self.conn.execute(
            delete(drive_members).where(
                drive_members.c.drive_id == drive_id, drive_members.c.user_id == user_id
            )
        )
        return bool(result.rowcount)
