"""What the trust and safety services need from storage, declared by them: the records that cross the
seam (frozen dataclasses, never rows) and one narrow Protocol per aggregate. `store/sql/trust/`
implements them; the composition root passes them in. Writes that must commit together go through a
`TrustUnit` (one transaction): the audit entry first, then the records it speaks for.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from townhall.domain.appeals import Appeal, AppealState
from townhall.domain.audit import AuditEntry
from townhall.domain.misuse import Measure, MisuseAction
from townhall.domain.moderation import ActionKind, Decision
from townhall.domain.notices import Notice


# --- records ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Restriction:
    """What a decision restricts (withheld, labelled, out of discovery), and when, until lifted."""

    id: str
    decision_id: str
    action: str
    target_kind: str
    target_id: str
    countries: tuple[str, ...]
    label: str | None
    starts_at: float
    ends_at: float | None = None
    lifted_at: float | None = None
    lifted_by: str | None = None

    def in_force(self, now: float) -> bool:
        return self.lifted_at is None and (self.ends_at is None or self.ends_at > now)


@dataclass(frozen=True, slots=True)
class Statement:
    """A statement of reasons (Art. 17) sent to the affected account, and its Transparency Database state."""

    id: str
    decision_id: str
    recipient_account_id: str
    created_at: float
    body: str
    window_ends_at: float
    tdb_payload: str | None
    tdb_state: str
    tdb_uuid: str | None = None
    tdb_attempts: int = 0
    tdb_last_error: str | None = None
    tdb_submitted_at: float | None = None


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """A message to an account: a statement of reasons, a decision on its notice, an appeal outcome, a warning."""

    id: str
    account_id: str
    created_at: float
    kind: str
    ref_id: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One step of an account's status history (suspended, reinstated); `seq` is given when stored."""

    account_id: str
    from_status: str
    to_status: str
    until: float | None
    reason_code: str
    public_reason: str
    decision_id: str | None
    appeal_id: str | None
    actor_kind: str
    actor_id: str
    effective_at: float
    internal_note: str
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order from an authority (Art. 9, 10) and what was done about it."""

    id: str
    kind: str
    authority: str
    member_state: str
    legal_basis: str
    reasons: str
    target_kind: str
    target_id: str
    territorial_scope: tuple[str, ...]
    deadline: float | None
    category: str
    received_at: float
    receipt_confirmed_at: float
    outcome_note: str
    state: str
    recorded_by: str
    effect_given_at: float | None = None
    outcome: str | None = None
    decision_id: str | None = None


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    effect_given_at: float
    outcome: str
    outcome_note: str
    decision_id: str | None


@dataclass(frozen=True, slots=True)
class Dispute:
    """An out-of-court dispute (Art. 21) over a decision, open until the body's outcome is recorded."""

    id: str
    decision_id: str
    appeal_id: str | None
    body_name: str
    body_certification_ref: str
    opened_at: float
    note: str
    recorded_by: str
    closed_at: float | None = None
    outcome: str | None = None
    implemented: bool | None = None
    new_decision_id: str | None = None


@dataclass(frozen=True, slots=True)
class DisputeOutcome:
    closed_at: float
    outcome: str
    implemented: bool
    note: str
    new_decision_id: str | None


@dataclass(frozen=True, slots=True)
class Referral:
    """A suspected crime threatening life or safety, reported to law enforcement (Art. 18)."""

    id: str
    notice_id: str | None
    decision_id: str | None
    member_states: tuple[str, ...]
    authority: str
    channel: str
    summary: str
    sent_at: float
    recorded_by: str


@dataclass(frozen=True, slots=True)
class Strike:
    """One count towards the misuse rules (Art. 23): manifestly illegal content, unfounded notice or complaint."""

    id: str
    subject_kind: str
    subject_id: str
    kind: str
    source_id: str
    created_at: float


@dataclass(frozen=True, slots=True)
class MisuseMeasure:
    """A warning or a suspension taken under the misuse rules, as stored."""

    id: str
    subject_kind: str
    subject_id: str
    kind: str
    action: str
    at: float
    until: float | None
    decision_id: str | None

    def measure(self) -> Measure:
        return Measure(MisuseAction(self.action), self.at, self.until)


# --- reading, one port per aggregate ------------------------------------------------------------------
class NoticeStore(Protocol):
    async def get(self, notice_id: str) -> Notice | None: ...
    async def queued(self, limit: int) -> list[Notice]: ...
    async def between(self, start: float, end: float) -> list[Notice]: ...
    async def by_reporter(self, reporter_key: str, since: float) -> list[Notice]: ...


class DecisionStore(Protocol):
    async def get(self, decision_id: str) -> Decision | None: ...
    async def between(self, start: float, end: float, limit: int | None = None) -> list[Decision]: ...
    async def pending_effects(self) -> list[Decision]: ...
    async def effects_done(self, decision_id: str, now: float) -> None: ...


class RestrictionStore(Protocol):
    async def active(self, action: ActionKind, now: float) -> list[Restriction]: ...
    async def of_target(self, target_id: str) -> list[Restriction]: ...
    async def between(self, start: float, end: float) -> list[Restriction]: ...


class StatementStore(Protocol):
    async def get(self, statement_id: str) -> Statement | None: ...
    async def of_decision(self, decision_id: str) -> list[Statement]: ...
    async def between(self, start: float, end: float) -> list[Statement]: ...
    async def pending(self, limit: int) -> list[Statement]: ...
    async def record_submission(
        self, decision_id: str, state: str, uuid: str | None, error: str, now: float
    ) -> None: ...


class InboxStore(Protocol):
    async def of_account(self, account_id: str, limit: int) -> list[InboxEntry]: ...


class HistoryStore(Protocol):
    async def of_account(self, account_id: str) -> list[HistoryEntry]: ...


class AppealStore(Protocol):
    async def get(self, appeal_id: str) -> Appeal | None: ...
    async def listed(self, state: AppealState | None, limit: int, decision_id: str | None = None) -> list[Appeal]: ...
    async def by_appellant(self, appellant_id: str, since: float) -> list[Appeal]: ...
    async def between(self, start: float, end: float) -> list[Appeal]: ...


class OrderStore(Protocol):
    async def get(self, order_id: str) -> Order | None: ...
    async def recent(self, limit: int) -> list[Order]: ...
    async def between(self, start: float, end: float) -> list[Order]: ...


class DisputeStore(Protocol):
    async def get(self, dispute_id: str) -> Dispute | None: ...
    async def recent(self, limit: int) -> list[Dispute]: ...
    async def between(self, start: float, end: float) -> list[Dispute]: ...


class ReferralStore(Protocol):
    async def recent(self, limit: int) -> list[Referral]: ...
    async def between(self, start: float, end: float) -> list[Referral]: ...


class MisuseStore(Protocol):
    async def strike_times(self, subject_id: str, kind: str, since: float) -> list[float]: ...
    async def measures(self, subject_id: str, kind: str) -> list[Measure]: ...
    async def measures_between(self, start: float, end: float) -> list[MisuseMeasure]: ...


class AuditReader(Protocol):
    async def entries(self, after_seq: int = 0, limit: int | None = None) -> list[AuditEntry]: ...
    async def head(self) -> tuple[int, str]: ...
    async def between(self, start: float, end: float) -> list[AuditEntry]: ...


# --- writing, in one transaction ----------------------------------------------------------------------
class TrustUnit(Protocol):
    """One transaction. `audit` comes first in every unit, so appends are serialised by the log's head."""

    async def audit(
        self, at: float, actor: tuple[str, str], action: str, obj: tuple[str, str], payload: Mapping[str, object]
    ) -> AuditEntry: ...
    async def receive_notice(self, notice: Notice) -> None: ...
    async def notice_decided(self, notice: Notice) -> None:
        """Raises Conflict when the notice is no longer queued (another moderator decided it meanwhile)."""

    async def record_decision(self, decision: Decision) -> None: ...
    async def decision_state(self, decision: Decision) -> None: ...
    async def restrict(self, restriction: Restriction) -> None: ...
    async def lift_restrictions(self, decision_id: str, now: float, by: str) -> None: ...
    async def issue_statement(self, statement: Statement) -> None: ...
    async def inform(self, entry: InboxEntry) -> None: ...
    async def add_history(self, entry: HistoryEntry) -> None: ...
    async def lodge_appeal(self, appeal: Appeal) -> None: ...
    async def appeal_decided(self, appeal: Appeal) -> None:
        """Raises Conflict when the appeal is no longer open."""

    async def strike(self, strike: Strike) -> None: ...
    async def take_measure(self, measure: MisuseMeasure) -> None: ...
    async def record_order(self, order: Order) -> None: ...
    async def order_acted(self, order_id: str, outcome: OrderOutcome) -> None: ...
    async def open_dispute(self, dispute: Dispute) -> None: ...
    async def close_dispute(self, dispute_id: str, outcome: DisputeOutcome) -> None: ...
    async def refer(self, referral: Referral) -> None: ...


class Units(Protocol):
    def begin(self) -> AbstractAsyncContextManager[TrustUnit]: ...


@dataclass(frozen=True, slots=True)
class TrustStores:
    """Every port of the area, as the root built them."""

    notices: NoticeStore
    decisions: DecisionStore
    restrictions: RestrictionStore
    statements: StatementStore
    inbox: InboxStore
    history: HistoryStore
    appeals: AppealStore
    orders: OrderStore
    disputes: DisputeStore
    referrals: ReferralStore
    misuse: MisuseStore
    audit: AuditReader
    units: Units
