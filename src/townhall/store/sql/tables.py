"""Tables of the control plane's foundation: accounts, sessions, spaces and space members.

Other areas add their own table modules on the same `metadata` (tables_<area>.py) and their own
Alembic branch; this module must never import them.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("handle", sa.String(30), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(256), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("suspended_until", sa.Float, nullable=True),
    sa.Column("platform_roles", sa.String(128), nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

spaces = sa.Table(
    "spaces",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("host_id", sa.String(64), sa.ForeignKey("accounts.id"), nullable=False, index=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("scheduled_start", sa.Float, nullable=True),
    sa.Column("listener_cap", sa.Integer, nullable=True),
    sa.Column("admissions_per_minute", sa.Integer, nullable=True),
    sa.Column("under_attack", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("recording", sa.Boolean, nullable=False),
    sa.Column("replay_public", sa.Boolean, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("ended_at", sa.Float, nullable=True),
    sa.Column("ended_reason", sa.String(64), nullable=True),
)

members = sa.Table(
    "space_members",
    metadata,
    sa.Column("space_id", sa.String(64), sa.ForeignKey("spaces.id"), primary_key=True),
    sa.Column("account_id", sa.String(64), sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("muted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("blocked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("invited", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", sa.Float, nullable=False),
)
