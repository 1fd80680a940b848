"""user session generation: logout, password change and deactivation end every web session

Revision ID: 5f0c7e2b9d41
Revises: 9ce3a458db6f
Create Date: 2026-12-05 18:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5f0c7e2b9d41"
down_revision: str | None = "9ce3a458db6f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing users start at generation 0, as a session cookie without a generation counts:
    # sessions open when this is deployed keep working until their user next logs out.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_generation")
