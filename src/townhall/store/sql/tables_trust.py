"""Tables of trust and safety (EU DSA): notices, decisions, restrictions, statements of reasons, the
account inbox, appeals, account history, authority orders, misuse strikes and the hash-chained audit log.
On the shared `metadata`; migrated by the `trust` Alembic branch. Rows are never deleted.
"""

from __future__ import annotations

import sqlalchemy as sa

from townhall.store.sql.tables import metadata

ID = 64

notices = sa.Table(
    "trust_notices",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False, index=True),
    sa.Column("source_kind", sa.String(32), nullable=False),
    sa.Column("notifier_account_id", sa.String(ID), nullable=True, index=True),
    sa.Column("notifier_name", sa.String(200), nullable=True),
    sa.Column("notifier_email", sa.String(320), nullable=True),
    sa.Column("reporter_key", sa.String(64), nullable=False, index=True),
    sa.Column("category", sa.String(100), nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("is_illegal_content_claim", sa.Boolean, nullable=False),
    sa.Column("bona_fide", sa.Boolean, nullable=False),
    sa.Column("threat_to_life", sa.Boolean, nullable=False),
    sa.Column("items", sa.JSON, nullable=False),
    sa.Column("target_kind", sa.String(32), nullable=False),
    sa.Column("target_id", sa.String(ID), nullable=False, index=True),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("decided_at", sa.Float, nullable=True),
    sa.Column("decision_id", sa.String(ID), nullable=True),
    sa.Column("manifestly_unfounded", sa.Boolean, nullable=False),
)

decisions = sa.Table(
    "trust_decisions",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("puid", sa.String(100), nullable=False, unique=True),
    sa.Column("basis", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target_kind", sa.String(32), nullable=False),
    sa.Column("target_id", sa.String(ID), nullable=False, index=True),
    sa.Column("affected_account_id", sa.String(ID), nullable=True, index=True),
    sa.Column("proposal", sa.JSON, nullable=False),
    sa.Column("decided_by", sa.String(ID), nullable=False),
    sa.Column("decided_at", sa.Float, nullable=False, index=True),
    sa.Column("content_created_at", sa.Float, nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("notice_ids", sa.JSON, nullable=False),
    sa.Column("source_trusted_flagger", sa.Boolean, nullable=False),
    sa.Column("source_illegal_claim", sa.Boolean, nullable=False),
    sa.Column("order_id", sa.String(ID), nullable=True),
    sa.Column("appeal_id", sa.String(ID), nullable=True),
    sa.Column("supersedes_id", sa.String(ID), nullable=True),
    sa.Column("effects_done_at", sa.Float, nullable=True),
)

restrictions = sa.Table(
    "trust_restrictions",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("decision_id", sa.String(ID), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False, index=True),
    sa.Column("target_kind", sa.String(32), nullable=False),
    sa.Column("target_id", sa.String(ID), nullable=False, index=True),
    sa.Column("countries", sa.JSON, nullable=False),
    sa.Column("label", sa.String(200), nullable=True),
    sa.Column("starts_at", sa.Float, nullable=False),
    sa.Column("ends_at", sa.Float, nullable=True),
    sa.Column("lifted_at", sa.Float, nullable=True),
    sa.Column("lifted_by", sa.String(ID), nullable=True),
)

statements = sa.Table(
    "trust_statements",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("decision_id", sa.String(ID), nullable=False, index=True),
    sa.Column("recipient_account_id", sa.String(ID), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("window_ends_at", sa.Float, nullable=False),
    sa.Column("tdb_payload", sa.Text, nullable=True),
    sa.Column("tdb_state", sa.String(32), nullable=False, index=True),
    sa.Column("tdb_uuid", sa.String(64), nullable=True),
    sa.Column("tdb_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("tdb_last_error", sa.Text, nullable=True),
    sa.Column("tdb_submitted_at", sa.Float, nullable=True),
)

inbox = sa.Table(
    "trust_inbox",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("account_id", sa.String(ID), nullable=False, index=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("ref_id", sa.String(ID), nullable=False),
    sa.Column("body", sa.JSON, nullable=False),
)

appeals = sa.Table(
    "trust_appeals",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("decision_id", sa.String(ID), nullable=False, index=True),
    sa.Column("appellant_id", sa.String(ID), nullable=False, index=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("lodged_at", sa.Float, nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("reviewer_id", sa.String(ID), nullable=True),
    sa.Column("outcome", sa.String(16), nullable=True),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("decided_at", sa.Float, nullable=True),
    sa.Column("new_decision_id", sa.String(ID), nullable=True),
)

account_history = sa.Table(
    "trust_account_history",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account_id", sa.String(ID), nullable=False, index=True),
    sa.Column("from_status", sa.String(16), nullable=False),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("until", sa.Float, nullable=True),
    sa.Column("reason_code", sa.String(64), nullable=False),
    sa.Column("public_reason", sa.Text, nullable=False),
    sa.Column("decision_id", sa.String(ID), nullable=True),
    sa.Column("appeal_id", sa.String(ID), nullable=True),
    sa.Column("actor_kind", sa.String(32), nullable=False),
    sa.Column("actor_id", sa.String(ID), nullable=False),
    sa.Column("effective_at", sa.Float, nullable=False),
    sa.Column("internal_note", sa.Text, nullable=False),
)

orders = sa.Table(
    "trust_orders",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("authority", sa.String(300), nullable=False),
    sa.Column("member_state", sa.String(2), nullable=False),
    sa.Column("legal_basis", sa.String(500), nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("target_kind", sa.String(32), nullable=False),
    sa.Column("target_id", sa.String(ID), nullable=False),
    sa.Column("territorial_scope", sa.JSON, nullable=False),
    sa.Column("deadline", sa.Float, nullable=True),
    sa.Column("category", sa.String(100), nullable=False),
    sa.Column("received_at", sa.Float, nullable=False, index=True),
    sa.Column("receipt_confirmed_at", sa.Float, nullable=False),
    sa.Column("effect_given_at", sa.Float, nullable=True),
    sa.Column("outcome", sa.String(32), nullable=True),
    sa.Column("outcome_note", sa.Text, nullable=False),
    sa.Column("decision_id", sa.String(ID), nullable=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("recorded_by", sa.String(ID), nullable=False),
)

strikes = sa.Table(
    "trust_strikes",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("subject_kind", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(ID), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("source_id", sa.String(ID), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

measures = sa.Table(
    "trust_misuse_measures",
    metadata,
    sa.Column("id", sa.String(ID), primary_key=True),
    sa.Column("subject_kind", sa.String(16), nullable=False),
    sa.Column("subject_id", sa.String(ID), nullable=False, index=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("until", sa.Float, nullable=True),
    sa.Column("decision_id", sa.String(ID), nullable=True),
)

audit_head = sa.Table(
    "trust_audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_log = sa.Table(
    "trust_audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.Float, nullable=False, index=True),
    sa.Column("actor_kind", sa.String(32), nullable=False),
    sa.Column("actor_id", sa.String(ID), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("object_type", sa.String(32), nullable=False),
    sa.Column("object_id", sa.String(ID), nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

disputes = sa.Table(
    "trust_disputes",
    metadata,
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

referrals = sa.Table(
    "trust_referrals",
    metadata,
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
