"""Items: no ``drive_id`` index.

Revision ID: 0006
Revises: 0005

No query looks items up by drive: a drive is reached through its root (``drives.root_id``) and
items by id or by parent. The index only cost every created or copied item one more B-tree
write. (Its one other use, cascading a drive's deletion, never happens: drives are never
deleted.)
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_items_drive_id", table_name="items")


def downgrade() -> None:
    op.create_index("ix_items_drive_id", "items", ["drive_id"])
