"""Tables of recording and counting: the replay hash chain as it grew live, recordings and their
publication, clips, exact count totals, de-duplication keys and the journal of unique viewers.

Shapes only; the rules are in domain/replay/ and domain/counting.py. Never imports another area.
"""

from __future__ import annotations

import sqlalchemy as sa

from townhall.store.sql.tables import metadata

ID = 64

replay_links = sa.Table(
    "replay_links",
    metadata,
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

recordings = sa.Table(
    "recordings",
    metadata,
    sa.Column("space_id", sa.String(ID), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),  # ending, published, kept, deleted
    sa.Column("public", sa.Boolean, nullable=False),
    sa.Column("ended_at", sa.Float, nullable=False),
    sa.Column("delete_after", sa.Float, nullable=True, index=True),
    sa.Column("segments", sa.Integer, nullable=False, server_default="0"),
    sa.Column("duration_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("final_head", sa.String(64), nullable=True),
    sa.Column("kid", sa.String(64), nullable=True),
    sa.Column("published_at", sa.Float, nullable=True),
)

clips = sa.Table(
    "clips",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("space_id", sa.String(ID), nullable=False, index=True),
    sa.Column("creator", sa.String(ID), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.BigInteger, nullable=False),
    sa.Column("source", sa.String(16), nullable=False),  # live or replay
    sa.Column("blob_key", sa.String(400), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("segments", sa.JSON, nullable=False),  # msn and sha256 of every source segment
    sa.Column("created_at", sa.Float, nullable=False),
)

count_totals = sa.Table(
    "count_totals",
    metadata,
    sa.Column("subject", sa.String(100), primary_key=True),
    sa.Column("metric", sa.String(64), primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False),
)

count_seen = sa.Table(
    "count_seen",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
)

count_journal = sa.Table(
    "count_journal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("uniques", sa.JSON, nullable=False),  # {hll key: [viewer keys]}
)
