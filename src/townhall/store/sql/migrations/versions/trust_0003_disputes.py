"""Trust: out-of-court dispute settlements (Art. 21) and referrals to law enforcement (Art. 18).

Revision ID: trust_0003
Revises: trust_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "trust_0003"
down_revision = "trust_0002"
branch_labels = None
depends_on = None
ID = 64


def upgrade() -> None:
    op.create_table(
        "trust_disputes",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("decision_id", sa.String(ID), nullable=False, index=True),
        sa.Column("appeal_id", sa.String(ID), nullable=True),
        sa.Column("body_name", sa.String(300), nullable=False),
        sa.Column("body_certification_ref", sa.String(300), nullable=False),
        sa.Column("opened_at", sa.Float, nullable=False, index=True),
        sa.Column("closed_at", sa.Float, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("implemented", sa.Boolean, nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("new_decision_id", sa.String(ID), nullable=True),
        sa.Column("recorded_by", sa.String(ID), nullable=False),
    )
    op.create_table(
        "trust_referrals",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("notice_id", sa.String(ID), nullable=True),
        sa.Column("decision_id", sa.String(ID), nullable=True),
        sa.Column("member_states", sa.JSON, nullable=False),
        sa.Column("authority", sa.String(300), nullable=False),
        sa.Column("channel", sa.String(100), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Float, nullable=False, index=True),
        sa.Column("recorded_by", sa.String(ID), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trust_referrals")
    op.drop_table("trust_disputes")
