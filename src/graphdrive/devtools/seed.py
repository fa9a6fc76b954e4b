"""Bulk-load a synthetic folder tree straight into the metadata database.

Creating 100,000 items through HTTP takes minutes; benchmarks and crash tests need large
trees in seconds. This writes the same rows the API would (through the same schema, with
correct folder sizes) in large batches. Files share a handful of real blobs, so downloads of
seeded files work too.

    python -m graphdrive.devtools.seed --data-dir D --user alice --name Big --items 100000

The metadata database is the one ``graphdrive serve`` would use with the same data dir and
environment (SQLite in the data dir unless ``GRAPHDRIVE_DATABASE_URL`` is set); pass
``--database-url postgresql://…`` to seed another database, e.g. PostgreSQL. The data dir still
holds the signing secret and the seeded blobs (unless ``GRAPHDRIVE_BLOB_URL`` is set).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert

from graphdrive.auth import Principal
from graphdrive.bootstrap import build
from graphdrive.domain.names import name_key
from graphdrive.service.clock import utcnow
from graphdrive.service.drives import locate
from graphdrive.settings import Settings
from graphdrive.storage.metadata.items import ItemRepository, new_id
from graphdrive.storage.metadata.schema import items

BATCH = 5000


@dataclass(frozen=True)
class Seeded:
    folder_id: str
    items: int
    size: int


async def _chunks(data: bytes) -> Any:
    yield data


def plan_tree(total: int, fanout: int, files_per_folder: int) -> list[tuple[int, int | None, bool]]:
    """(index, parent index, is_folder) for ``total`` items below one top folder (index 0)."""
    nodes: list[tuple[int, int | None, bool]] = [(0, None, True)]
    frontier = [0]
    while len(nodes) < total:
        next_frontier = []
        for parent in frontier:
            for _ in range(files_per_folder):
                if len(nodes) >= total:
                    break
                nodes.append((len(nodes), parent, False))
            for _ in range(fanout):
                if len(nodes) >= total:
                    break
                nodes.append((len(nodes), parent, True))
                next_frontier.append(len(nodes) - 1)
        frontier = next_frontier or frontier
    return nodes


async def seed_tree(
    settings: Settings,
    *,
    user: str,
    name: str,
    total: int,
    fanout: int = 10,
    files_per_folder: int = 20,
) -> Seeded:
    container = await build(settings)
    try:
        who = Principal(user, user, frozenset({"Files.ReadWrite"}))
        drive = await container.drives.drive_for(who)
        keys = []
        for n in range(4):
            staged = await container.blobs.stage(_chunks(f"seed content {n}\n".encode() * 64))
            keys.append(staged)
        nodes = plan_tree(total, fanout, files_per_folder)
        ids = [new_id() for _ in nodes]
        size_of = [0] * len(nodes)
        for index, parent, is_folder in reversed(nodes):
            if not is_folder:
                size_of[index] = keys[index % len(keys)].size
            if parent is not None:
                size_of[parent] += size_of[index]
        now = utcnow()
        async with container.db.write() as conn:
            repo = ItemRepository(conn)
            for staged in keys:
                await repo.ensure_blob(
                    staged.sha256, staged.size, staged.sha1, staged.quick_xor, now
                )
                await container.blobs.commit(staged)
            root = (await locate(repo, drive, "root")).item
            rows: list[dict[str, Any]] = []
            for index, parent, is_folder in nodes:
                item_name = name if index == 0 else f"{'dir' if is_folder else 'file'}-{index}"
                if not is_folder:
                    item_name += ".txt"
                staged = keys[index % len(keys)]
                rows.append(
                    {
                        "id": ids[index],
                        "drive_id": drive.id,
                        "parent_id": root.id if parent is None else ids[parent],
                        "name": item_name,
                        "name_key": name_key(item_name),
                        "is_folder": is_folder,
                        "size": size_of[index],
                        "blob_key": None if is_folder else staged.sha256,
                        "mime_type": None if is_folder else "text/plain",
                        "version": 1,
                        "content_version": 1,
                        "created_at": now,
                        "modified_at": now,
                        "created_by_id": user,
                        "created_by_name": user,
                        "modified_by_id": user,
                        "modified_by_name": user,
                    }
                )
                if len(rows) >= BATCH:
                    await conn.execute(insert(items), rows)
                    rows = []
            if rows:
                await conn.execute(insert(items), rows)
            chain = [a.id for a in await repo.ancestors(root.id)]
            await repo.add_size(chain, size_of[0])
        return Seeded(ids[0], len(nodes), size_of[0])
    finally:
        await container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--fanout", type=int, default=10)
    parser.add_argument("--files-per-folder", type=int, default=20)
    parser.add_argument(
        "--database-url",
        default=None,
        help="metadata database to seed, e.g. postgresql://… "
        "(default: GRAPHDRIVE_DATABASE_URL, else SQLite in the data dir)",
    )
    args = parser.parse_args()
    # An unset --database-url leaves the environment's (or the default) database in place.
    settings = (
        Settings(data_dir=args.data_dir, workers=0, database_url=args.database_url)
        if args.database_url
        else Settings(data_dir=args.data_dir, workers=0)
    )
    seeded = asyncio.run(
        seed_tree(
            settings,
            user=args.user,
            name=args.name,
            total=args.items,
            fanout=args.fanout,
            files_per_folder=args.files_per_folder,
        )
    )
    print(json.dumps({"id": seeded.folder_id, "items": seeded.items, "size": seeded.size}))


if __name__ == "__main__":
    main()
