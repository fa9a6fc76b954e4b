"""Copy snapshots: no ``blob_key`` index; on SQLite, rows clustered by primary key.

Revision ID: 0004
Revises: 0003

Every copied item paid for a ``copy_nodes.blob_key`` index entry (and its deletion) only so
that blob GC could look snapshots up by key; GC now scans the snapshots when any exist. On
SQLite the table is rebuilt ``WITHOUT ROWID``, so a snapshot row is one B-tree entry instead of
a row plus a primary-key index entry. Rows of copies in flight are kept.
"""

import sqlalchemy as sa
from alembic import op

from graphdrive.storage.metadata.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COPY_ROWS = """
INSERT INTO copy_nodes_rebuilt (op_id, seq, parent_seq, src_id, name, name_key, is_folder, size,
                                blob_key, mime_type, fs_created_at, fs_modified_at)
SELECT op_id, seq, parent_seq, src_id, name, name_key, is_folder, size, blob_key, mime_type,
       fs_created_at, fs_modified_at
FROM copy_nodes
"""


def _create(name: str, *, with_rowid: bool) -> None:
    op.create_table(
        name,
        sa.Column("op_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("parent_seq", sa.BigInteger(), nullable=True),
        sa.Column("src_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("is_folder", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob_key", sa.String(64), nullable=True),
        sa.Column("mime_type", sa.String(255), nullable=True),
        sa.Column("fs_created_at", UTCDateTime(), nullable=True),
        sa.Column("fs_modified_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("op_id", "seq", name="pk_copy_nodes"),
        sqlite_with_rowid=with_rowid,
    )


def _rebuild(*, with_rowid: bool) -> None:
    """SQLite cannot change a table's storage in place: copy into a new table, swap."""
    _create("copy_nodes_rebuilt", with_rowid=with_rowid)
    op.execute(COPY_ROWS)
    op.drop_table("copy_nodes")  # with its indexes
    op.rename_table("copy_nodes_rebuilt", "copy_nodes")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(with_rowid=False)
    else:
        op.drop_index("ix_copy_nodes_blob_key", table_name="copy_nodes")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(with_rowid=True)
    op.create_index("ix_copy_nodes_blob_key", "copy_nodes", ["blob_key"])
