"""The metadata schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Alembic migrations in ``storage/migrations`` create exactly this; a test checks they agree.
Items form a tree through ``parent_id``; a copy builds a new tree with set-based
``INSERT … SELECT`` and publishes it by attaching its top item (see ``operations/copy.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

drives = Table(
    "drives",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_id", String(255), nullable=False, unique=True),
    Column("owner_name", String(255), nullable=False),
    Column("root_id", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # "personal" (a user's OneDrive, owner_id = the user) or "documentLibrary" (a shared
    # library: owner_id = "library:" + its id, its name in owner_name, members below).
    Column("kind", String(32), nullable=False, server_default="personal"),
)

# Who besides its owner may use a drive: the members of a shared library read and write it.
drive_members = Table(
    "drive_members",
    metadata,
    Column("drive_id", String(64), ForeignKey("drives.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", String(255), primary_key=True),
    Column("role", String(16), nullable=False, server_default="write"),  # "read" | "write"
    Index("ix_drive_members_user_id", "user_id"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256, lowercase hex
    Column("size", BigInteger, nullable=False),
    Column("sha1", String(40), nullable=False),
    Column("quick_xor", String(28), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("drive_id", String(64), ForeignKey("drives.id", ondelete="CASCADE"), nullable=False),
    # NULL for a drive's root and for the top of a copy that is not published yet.
    Column("parent_id", String(64), ForeignKey("items.id"), nullable=True),
    Column("name", Text, nullable=False),
    Column("name_key", Text, nullable=False),  # casefolded: names are case-insensitive
    Column("is_folder", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False, default=0),  # folders: total of descendants
    Column("blob_key", String(64), ForeignKey("blobs.key"), nullable=True),
    Column("mime_type", String(255), nullable=True),
    Column("version", Integer, nullable=False, default=1),
    Column("content_version", Integer, nullable=False, default=1),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("modified_at", UTCDateTime(), nullable=False),
    Column("created_by_id", String(255), nullable=False),
    Column("created_by_name", String(255), nullable=False),
    Column("modified_by_id", String(255), nullable=False),
    Column("modified_by_name", String(255), nullable=False),
    Column("fs_created_at", UTCDateTime(), nullable=True),
    Column("fs_modified_at", UTCDateTime(), nullable=True),
    Index("uq_items_parent_id_name_key", "parent_id", "name_key", unique=True),
    Index("ix_items_blob_key", "blob_key"),
    # No index on drive_id: nothing looks items up by drive (migration 0006).
)

# -- long-running operations --------------------------------------------------------------
# The operations table is the source of truth of the engine: status, progress, checkpoint,
# lease and attempts all live in the row, so any worker process can resume any operation.
operations = Table(
    "operations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("action", String(64), nullable=False),  # registered action name, e.g. "copy"
    Column("owner_id", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("params", Text, nullable=False),  # JSON
    Column("checkpoint", Text, nullable=True),  # JSON, owned by the action
    Column("monitor_hash", String(64), nullable=True, unique=True),  # sha256 of the token
    Column("idempotency_key", String(255), nullable=True),
    Column("request_hash", String(64), nullable=True),
    Column("total_items", BigInteger, nullable=False, default=0),
    Column("done_items", BigInteger, nullable=False, default=0),
    Column("total_bytes", BigInteger, nullable=False, default=0),
    Column("done_bytes", BigInteger, nullable=False, default=0),
    Column("percent", Float, nullable=False, default=0.0),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("lease_owner", String(128), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    # When a worker may next claim it; NULL once the operation has ended (completed, failed or
    # cancelled), so ix_operations_due holds exactly the runnable operations, in due order.
    Column("next_attempt_at", UTCDateTime(), nullable=True),
    Column("resource_id", String(64), nullable=True),
    Column("resource_drive_id", String(64), nullable=True),
    Column("error_code", String(64), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("expires_at", UTCDateTime(), nullable=True),
    # A claim walks this in due order and stops at the first operation it may take; its cost
    # does not grow with the backlog (migration 0008).
    Index("ix_operations_due", "next_attempt_at", "created_at"),
    # The owners at their limit of running operations (the claim's other question).
    Index("ix_operations_status_lease_expires_at", "status", "lease_expires_at"),
    Index("ix_operations_owner_id_created_at", "owner_id", "created_at"),
    Index("uq_operations_owner_id_idempotency_key", "owner_id", "idempotency_key", unique=True),
)

# A copy's frozen view of its source tree, one row per item, in parent-before-child order
# (``seq``). Built level by level when the copy starts; the copy then inserts items from it
# batch by batch, so a resumed copy continues at its checkpoint from the same snapshot, and
# deletes it once the copy is published. On SQLite the rows live in the primary key's B-tree
# (WITHOUT ROWID): one B-tree write per row, and the build reads ``seq`` ranges in place. No
# index on ``blob_key``: blob GC finds the blobs snapshots hold with one scan instead (see
# ``service/blob_gc.py``), rather than every copied item paying for an index entry.
copy_nodes = Table(
    "copy_nodes",
    metadata,
    Column("op_id", String(64), primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("parent_seq", BigInteger, nullable=True),  # NULL: a top item of the copy
    Column("src_id", String(64), nullable=False),
    Column("name", Text, nullable=False),
    Column("name_key", Text, nullable=False),
    Column("is_folder", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("blob_key", String(64), nullable=True),
    Column("mime_type", String(255), nullable=True),
    Column("fs_created_at", UTCDateTime(), nullable=True),
    Column("fs_modified_at", UTCDateTime(), nullable=True),
    sqlite_with_rowid=False,
)

# -- resumable uploads ----------------------------------------------------------------------
# An upload session: where the file goes, how much has arrived, and the blob store's staging
# token. Its bytes are invisible as an item until the last fragment is published.
upload_sessions = Table(
    "upload_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("owner_id", String(255), nullable=False),
    Column("owner_name", String(255), nullable=False),
    Column("drive_id", String(64), nullable=False),
    Column("parent_id", String(64), nullable=True),  # create by name under this folder…
    Column("name", Text, nullable=True),
    Column("item_id", String(64), nullable=True),  # …or replace this file's content
    Column("conflict", String(16), nullable=False),
    Column("file_size", BigInteger, nullable=True),
    Column("received", BigInteger, nullable=False, default=0),
    Column("staging", String(64), nullable=False),
    Column("defer_commit", Boolean, nullable=False, default=False),
    Column("writer_until", UTCDateTime(), nullable=True),  # a fragment is being written
    Column("last_start", BigInteger, nullable=True),  # where the latest fragment began
    # Set once published ("" while publishing): a repeat of the last fragment is answered
    # with this item until the session expires (msgraph-sdk always repeats it).
    Column("finished_item_id", String(64), nullable=True),
    Column("finished_created", Boolean, nullable=True),
    Column("fs_created_at", UTCDateTime(), nullable=True),
    Column("fs_modified_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Index("ix_upload_sessions_expires_at", "expires_at"),
)
