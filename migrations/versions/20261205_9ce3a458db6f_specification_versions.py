"""specification versions: an edit of a release specification names the version it was read at

Revision ID: 9ce3a458db6f
Revises: b8b4fb2af7a7
Create Date: 2026-12-05 15:00:00.000000+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9ce3a458db6f"
down_revision: str | None = "b8b4fb2af7a7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows start at version 1, as every new row does (the model's default).
    with op.batch_alter_table("mfg_specifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("mfg_specifications", schema=None) as batch_op:
        batch_op.drop_column("version")
