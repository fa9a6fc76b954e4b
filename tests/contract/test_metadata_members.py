"""Shared libraries' SQL (``MemberRepository`` and library drives) on every metadata backend."""

from __future__ import annotations

from datetime import UTC, datetime

from graphdrive.domain.items import LIBRARY, READ, WRITE
from graphdrive.storage.metadata.database import Database
from graphdrive.storage.metadata.items import ItemRepository
from graphdrive.storage.metadata.members import MemberRepository

pytest_plugins = ["tests.contract.metadata_backends"]

NOW = datetime(2030, 1, 1, tzinfo=UTC)


async def test_membership_round_trip(metadata_db: Database) -> None:
    async with metadata_db.write() as conn:
        team = await ItemRepository(conn).create_drive("", "Team", NOW, kind=LIBRARY)
        other = await ItemRepository(conn).create_drive("", "Other", NOW, kind=LIBRARY)
        members = MemberRepository(conn)
        assert await members.add(team.id, "alice")
        assert not await members.add(team.id, "alice")  # already one: nothing changes
        assert await members.add(team.id, "bob", READ)
        assert await members.add(other.id, "bob")
    async with metadata_db.read() as conn:
        members = MemberRepository(conn)
        assert await members.role(team.id, "alice") == WRITE  # the default role
        assert await members.role(other.id, "alice") is None
        assert await members.members(team.id) == [("alice", WRITE), ("bob", READ)]
        assert [d.owner_name for d in await members.libraries_of("bob")] == ["Other", "Team"]
        assert [d.id for d in await members.libraries_of("alice")] == [team.id]
        assert {d.id for d in await members.libraries()} == {team.id, other.id}
    async with metadata_db.write() as conn:
        assert await MemberRepository(conn).remove(team.id, "alice")
        assert not await MemberRepository(conn).remove(team.id, "alice")
    async with metadata_db.read() as conn:
        assert await MemberRepository(conn).role(team.id, "alice") is None


async def test_adding_a_member_again_changes_their_role(metadata_db: Database) -> None:
    async with metadata_db.write() as conn:
        team = await ItemRepository(conn).create_drive("", "Team", NOW, kind=LIBRARY)
        members = MemberRepository(conn)
        assert await members.add(team.id, "alice", READ)
        assert not await members.add(team.id, "alice", READ)
        assert await members.add(team.id, "alice", WRITE)
        assert await members.role(team.id, "alice") == WRITE
        assert await members.add(team.id, "alice", READ)
        assert await members.members(team.id) == [("alice", READ)]


async def test_a_library_is_nobody_s_personal_drive(metadata_db: Database) -> None:
    async with metadata_db.write() as conn:
        repo = ItemRepository(conn)
        team = await repo.create_drive("", "Team", NOW, kind=LIBRARY)
        mine = await repo.create_drive("alice", "Alice", NOW)
    assert team.is_library and team.owner_id == f"library:{team.id}"
    assert not mine.is_library
    async with metadata_db.read() as conn:
        repo = ItemRepository(conn)
        assert await repo.drive_by_owner(team.owner_id) is None
        assert (await repo.drive_by_owner("alice")) == mine
        stored = await repo.drive(team.id)
        assert stored is not None and stored.kind == LIBRARY and stored.owner_name == "Team"
        root = await repo.get(team.root_id)
        assert root is not None and root.drive_id == team.id
