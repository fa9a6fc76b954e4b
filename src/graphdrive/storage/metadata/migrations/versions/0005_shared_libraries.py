"""Shared libraries: a drive kind, and the members who may use a drive besides its owner.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("drives") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(32), nullable=False, server_default="personal")
        )
    op.create_table(
        "drive_members",
        sa.Column("drive_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(
            ["drive_id"],
            ["drives.id"],
            name="fk_drive_members_drive_id_drives",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("drive_id", "user_id", name="pk_drive_members"),
    )
    op.create_index("ix_drive_members_user_id", "drive_members", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_drive_members_user_id", table_name="drive_members")
    op.drop_table("drive_members")
    with op.batch_alter_table("drives") as batch:
        batch.drop_column("kind")
