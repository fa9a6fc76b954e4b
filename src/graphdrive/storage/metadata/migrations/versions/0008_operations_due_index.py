"""Operations: claims walk the runnable operations in due order.

Revision ID: 0008
Revises: 0007

A claim used to find every runnable operation through ``(status, next_attempt_at)`` and sort
them all by ``created_at`` to take one, under the write lock: 1.9 ms with 100 operations
queued, 19 ms with 20,000. ``next_attempt_at`` is now NULL once an operation has ended, so
``ix_operations_due (next_attempt_at, created_at)`` holds exactly the runnable ones in due
order and a claim stops at the first it may take. The owners' limit uses
``(status, lease_expires_at)``.
"""

from alembic import op

from graphdrive.storage.metadata.schema import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("operations") as batch:
        batch.alter_column("next_attempt_at", existing_type=UTCDateTime(), nullable=True)
        batch.drop_index("ix_operations_status_next_attempt_at")
        batch.create_index("ix_operations_due", ["next_attempt_at", "created_at"])
        batch.create_index("ix_operations_status_lease_expires_at", ["status", "lease_expires_at"])
    op.execute(
        "UPDATE operations SET next_attempt_at = NULL "
        "WHERE status IN ('completed', 'failed', 'cancelled')"
    )


def downgrade() -> None:
    op.execute("UPDATE operations SET next_attempt_at = updated_at WHERE next_attempt_at IS NULL")
    with op.batch_alter_table("operations") as batch:
        batch.drop_index("ix_operations_status_lease_expires_at")
        batch.drop_index("ix_operations_due")
        batch.create_index("ix_operations_status_next_attempt_at", ["status", "next_attempt_at"])
        batch.alter_column("next_attempt_at", existing_type=UTCDateTime(), nullable=False)
