"""Long-running operations and copy snapshots.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from graphdrive.storage.metadata.schema import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operations",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=True),
        sa.Column("monitor_hash", sa.String(64), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_hash", sa.String(64), nullable=True),
        sa.Column("total_items", sa.BigInteger(), nullable=False),
        sa.Column("done_items", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("done_bytes", sa.BigInteger(), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("lease_owner", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=True),
        sa.Column("resource_drive_id", sa.String(64), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_operations"),
        sa.UniqueConstraint("monitor_hash", name="uq_operations_monitor_hash"),
    )
    op.create_index(
        "ix_operations_status_next_attempt_at", "operations", ["status", "next_attempt_at"]
    )
    op.create_index("ix_operations_owner_id_created_at", "operations", ["owner_id", "created_at"])
    op.create_index(
        "uq_operations_owner_id_idempotency_key",
        "operations",
        ["owner_id", "idempotency_key"],
        unique=True,
    )
    op.create_table(
        "copy_nodes",
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
    )
    op.create_index("ix_copy_nodes_blob_key", "copy_nodes", ["blob_key"])


def downgrade() -> None:
    op.drop_table("copy_nodes")
    op.drop_table("operations")
