"""notification reads per user: each member has their own "new" marks

Revision ID: 7a3d2c91e4b8
Revises: 5f0c7e2b9d41
Create Date: 2026-12-05 18:30:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import opencxo.core.types

revision: str = "7a3d2c91e4b8"
down_revision: str | None = "5f0c7e2b9d41"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notification_reads",
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("read_at", opencxo.core.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("fk_notification_reads_notification_id_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_reads_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("notification_id", "user_id", name=op.f("pk_notification_reads")),
    )
    with op.batch_alter_table("notification_reads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notification_reads_user_id"), ["user_id"], unique=False
        )
    # A notification read before was read for the whole organisation: it stays read for each
    # of its members.
    op.execute(
        "INSERT INTO notification_reads (notification_id, user_id, read_at) "
        "SELECT n.id, m.user_id, n.read_at FROM notifications n "
        "JOIN memberships m ON m.organization_id = n.organization_id "
        "WHERE n.read_at IS NOT NULL"
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("read_at")


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("read_at", opencxo.core.types.UTCDateTime(timezone=True), nullable=True)
        )
    # Read by anyone counts as read, as it did before.
    op.execute(
        "UPDATE notifications SET read_at = (SELECT MIN(r.read_at) FROM notification_reads r "
        "WHERE r.notification_id = notifications.id)"
    )
    with op.batch_alter_table("notification_reads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_reads_user_id"))
    op.drop_table("notification_reads")
