"""Recording and counting: replay chain links, recordings, clips, count totals, de-duplication keys,
journal of unique viewers.

Revision ID: recording_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "recording_0001"
down_revision = None
branch_labels = ("recording",)
depends_on = "0001_foundation"
ID = 64


def upgrade() -> None:
    op.create_table(
        "replay_links",
        sa.Column("space_id", sa.String(ID), primary_key=True),
        sa.Column("msn", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("media_time", sa.BigInteger, nullable=False),
        sa.Column("duration", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uri", sa.String(200), nullable=False),
        sa.Column("blob_key", sa.String(400), nullable=False),
        sa.Column("program_date_time_ms", sa.BigInteger, nullable=False),
        sa.Column("head", sa.String(64), nullable=False),
    )
    op.create_table(
        "recordings",
        sa.Column("space_id", sa.String(ID), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("delete_after", sa.Float, nullable=True, index=True),
        sa.Column("segments", sa.Integer, nullable=False, server_default="0"),
        sa.Column("duration_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("final_head", sa.String(64), nullable=True),
        sa.Column("kid", sa.String(64), nullable=True),
        sa.Column("published_at", sa.Float, nullable=True),
    )
    op.create_table(
        "clips",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("space_id", sa.String(ID), nullable=False, index=True),
        sa.Column("creator", sa.String(ID), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("start_ms", sa.BigInteger, nullable=False),
        sa.Column("duration_ms", sa.BigInteger, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("blob_key", sa.String(400), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("segments", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "count_totals",
        sa.Column("subject", sa.String(100), primary_key=True),
        sa.Column("metric", sa.String(64), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "count_seen",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("expires_at", sa.Float, nullable=False, index=True),
    )
    op.create_table(
        "count_journal",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("uniques", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in ("count_journal", "count_seen", "count_totals", "clips", "recordings", "replay_links"):
        op.drop_table(table)
