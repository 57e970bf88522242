"""Appeals against moderation decisions (DSA Art. 20): who may appeal and until when, who may decide
and how. Pure: no I/O, no clock; times are passed in.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from townhall.domain.errors import Conflict, Forbidden, Gone, Invalid
from townhall.domain.moderation import Decision, DecisionState

TEXT_MAX = 5000
REASONS_MAX = 5000


class AppellantRole(StrEnum):
    AFFECTED = "affected_recipient"
    NOTIFIER = "notifier"


class AppealState(StrEnum):
    OPEN = "open"
    DECIDED = "decided"
    NOT_PROCESSED = "not_processed"  # the complainant's complaints are suspended (Art. 23(2))


class AppealOutcome(StrEnum):
    UPHELD = "upheld"
    REVERSED = "reversed"


@dataclass(frozen=True, slots=True)
class Appeal:
    id: str
    decision_id: str
    appellant_id: str
    role: AppellantRole
    text: str
    lodged_at: float
    state: AppealState = AppealState.OPEN
    reviewer_id: str | None = None
    outcome: AppealOutcome | None = None
    reasons: str = ""
    decided_at: float | None = None
    new_decision_id: str | None = None


def add_months(t: float, months: int) -> float:
    """The same day and time `months` calendar months later (UTC), clamped to the month's last day."""
    start = datetime.fromtimestamp(t, UTC)
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day).timestamp()


def window_ends(informed_at: float, months: int) -> float:
    """Last moment to appeal: `months` after the recipient was informed (Art. 20(1): at least six)."""
    return add_months(informed_at, months)


def role_of(decision: Decision, account_id: str, notifier_ids: frozenset[str]) -> AppellantRole:
    if decision.affected_account_id == account_id:
        return AppellantRole.AFFECTED
    if account_id in notifier_ids:
        return AppellantRole.NOTIFIER
    raise Forbidden("not_affected", "only the affected account or the notifier may appeal this decision")


def lodge(
    appeal_id: str,
    decision: Decision,
    account_id: str,
    notifier_ids: frozenset[str],
    text: str,
    informed_at: float,
    months: int,
    now: float,
) -> Appeal:
    role = role_of(decision, account_id, notifier_ids)
    if decision.state is DecisionState.SUPERSEDED:
        raise Conflict("decision_superseded", "this decision was already reversed")
    if now > window_ends(informed_at, months):
        raise Gone("appeal_window_closed", f"a decision can be appealed for {months} months after it was made")
    cleaned = text.strip()
    if not cleaned:
        raise Invalid("appeal_text_required", "say why the decision is wrong")
    if len(cleaned) > TEXT_MAX:
        raise Invalid("appeal_text_too_long", f"an appeal may have at most {TEXT_MAX} characters")
    return Appeal(appeal_id, decision.id, account_id, role, cleaned, now)


def decide(
    appeal: Appeal, decision: Decision, reviewer_id: str, outcome: AppealOutcome, reasons: str, now: float
) -> Appeal:
    """Record the outcome; a different moderator than the one who decided must review (C8)."""
    if appeal.state is not AppealState.OPEN:
        raise Conflict("appeal_not_open", f"this appeal is {appeal.state.value.replace('_', ' ')}, not open")
    if reviewer_id == decision.decided_by:
        raise Forbidden("same_moderator", "an appeal must be decided by a different moderator than the decision")
    cleaned = reasons.strip()
    if not cleaned:
        raise Invalid("reasons_required", "give the reasons for upholding or reversing")
    if len(cleaned) > REASONS_MAX:
        raise Invalid("reasons_too_long", f"reasons may have at most {REASONS_MAX} characters")
    return replace(
        appeal, state=AppealState.DECIDED, reviewer_id=reviewer_id, outcome=outcome, reasons=cleaned, decided_at=now
    )
