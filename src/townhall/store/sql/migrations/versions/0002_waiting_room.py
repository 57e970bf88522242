"""The waiting room's settings per space: new admissions a minute, and the "under attack" switch.

Revision ID: 0002_waiting_room
Revises: 0001_foundation
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_waiting_room"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("spaces", sa.Column("admissions_per_minute", sa.Integer, nullable=True))
    op.add_column("spaces", sa.Column("under_attack", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("spaces", "under_attack")
    op.drop_column("spaces", "admissions_per_minute")
