"""Trust: Transparency Database submission state of each statement of reasons (uuid, attempts, error).

Revision ID: trust_0002
Revises: trust_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "trust_0002"
down_revision = "trust_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trust_statements") as batch:
        batch.add_column(sa.Column("tdb_uuid", sa.String(64), nullable=True))
        batch.add_column(sa.Column("tdb_attempts", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("tdb_last_error", sa.Text, nullable=True))
        batch.add_column(sa.Column("tdb_submitted_at", sa.Float, nullable=True))
        batch.create_index("ix_trust_statements_tdb_state", ["tdb_state"])


def downgrade() -> None:
    with op.batch_alter_table("trust_statements") as batch:
        batch.drop_index("ix_trust_statements_tdb_state")
        batch.drop_column("tdb_submitted_at")
        batch.drop_column("tdb_last_error")
        batch.drop_column("tdb_attempts")
        batch.drop_column("tdb_uuid")
