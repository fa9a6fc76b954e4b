"""Drives, items and content blobs.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from graphdrive.storage.metadata.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drives",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("owner_name", sa.String(255), nullable=False),
        sa.Column("root_id", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_drives"),
        sa.UniqueConstraint("owner_id", name="uq_drives_owner_id"),
    )
    op.create_table(
        "blobs",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha1", sa.String(40), nullable=False),
        sa.Column("quick_xor", sa.String(28), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_blobs"),
    )
    op.create_table(
        "items",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("drive_id", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("is_folder", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("blob_key", sa.String(64), nullable=True),
        sa.Column("mime_type", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("modified_at", UTCDateTime(), nullable=False),
        sa.Column("created_by_id", sa.String(255), nullable=False),
        sa.Column("created_by_name", sa.String(255), nullable=False),
        sa.Column("modified_by_id", sa.String(255), nullable=False),
        sa.Column("modified_by_name", sa.String(255), nullable=False),
        sa.Column("fs_created_at", UTCDateTime(), nullable=True),
        sa.Column("fs_modified_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["drive_id"], ["drives.id"], name="fk_items_drive_id_drives", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["parent_id"], ["items.id"], name="fk_items_parent_id_items"),
        sa.ForeignKeyConstraint(["blob_key"], ["blobs.key"], name="fk_items_blob_key_blobs"),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
    )
    op.create_index("uq_items_parent_id_name_key", "items", ["parent_id", "name_key"], unique=True)
    op.create_index("ix_items_blob_key", "items", ["blob_key"])
    op.create_index("ix_items_drive_id", "items", ["drive_id"])


def downgrade() -> None:
    op.drop_table("items")
    op.drop_table("blobs")
    op.drop_table("drives")
