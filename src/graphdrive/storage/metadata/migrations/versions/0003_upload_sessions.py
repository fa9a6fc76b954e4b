"""Resumable upload sessions.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from graphdrive.storage.metadata.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("owner_name", sa.String(255), nullable=False),
        sa.Column("drive_id", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("item_id", sa.String(64), nullable=True),
        sa.Column("conflict", sa.String(16), nullable=False),
        sa.Column("file_size", sa.BigInteger(), nullable=True),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("staging", sa.String(64), nullable=False),
        sa.Column("defer_commit", sa.Boolean(), nullable=False),
        sa.Column("writer_until", UTCDateTime(), nullable=True),
        sa.Column("last_start", sa.BigInteger(), nullable=True),
        sa.Column("finished_item_id", sa.String(64), nullable=True),
        sa.Column("finished_created", sa.Boolean(), nullable=True),
        sa.Column("fs_created_at", UTCDateTime(), nullable=True),
        sa.Column("fs_modified_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_upload_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_upload_sessions_token_hash"),
    )
    op.create_index("ix_upload_sessions_expires_at", "upload_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_table("upload_sessions")
