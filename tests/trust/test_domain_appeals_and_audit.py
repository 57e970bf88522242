"""Appeal rules (six calendar months, a different moderator, reasons required) and the audit chain."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from townhall.domain import audit
from townhall.domain.appeals import AppealOutcome, AppellantRole, add_months, decide, lodge
from townhall.domain.errors import Conflict, Forbidden, Gone
from townhall.domain.moderation import (
    ActionKind,
    Basis,
    Decision,
    DecisionState,
    Ground,
    Proposal,
    reversal,
    reversed_by,
    under_appeal,
)
from townhall.domain.notices import TargetKind

T0 = datetime(2026, 8, 31, 12, tzinfo=UTC).timestamp()


def decision() -> Decision:
    p = Proposal(ActionKind.SUSPEND_ACCOUNT, TargetKind.ACCOUNT, "acct", "STATEMENT_CATEGORY_VIOLENCE", Ground.ILLEGAL)
    return Decision("d1", Basis.NOTICE, p, "acct", "mod1", T0, 0.0)


def test_six_calendar_months_clamp_to_the_end_of_a_shorter_month() -> None:
    assert datetime.fromtimestamp(add_months(T0, 6), UTC) == datetime(2027, 2, 28, 12, tzinfo=UTC)
    assert datetime.fromtimestamp(add_months(T0, 4), UTC) == datetime(2026, 12, 31, 12, tzinfo=UTC)


def test_the_affected_account_or_a_notifier_may_appeal_within_the_window_only() -> None:
    d = decision()
    mine = lodge("a1", d, "acct", frozenset(), "wrong", T0, 6, T0 + 10)
    assert mine.role is AppellantRole.AFFECTED
    assert lodge("a2", d, "fan", frozenset({"fan"}), "too soft", T0, 6, T0).role is AppellantRole.NOTIFIER
    with pytest.raises(Forbidden):
        lodge("a3", d, "stranger", frozenset(), "?", T0, 6, T0)
    with pytest.raises(Gone):
        lodge("a4", d, "acct", frozenset(), "late", T0, 6, add_months(T0, 6) + 1)
    with pytest.raises(Conflict):
        lodge("a5", replace(d, state=DecisionState.SUPERSEDED), "acct", frozenset(), "x", T0, 6, T0)


def test_a_different_moderator_decides_with_reasons() -> None:
    d = decision()
    appeal = lodge("a1", d, "acct", frozenset(), "wrong", T0, 6, T0)
    with pytest.raises(Forbidden) as same:
        decide(appeal, d, "mod1", AppealOutcome.REVERSED, "because", T0)
    assert same.value.code == "same_moderator"
    done = decide(appeal, d, "mod2", AppealOutcome.UPHELD, "  stands  ", T0 + 5)
    assert done.reasons == "stands" and done.reviewer_id == "mod2"
    with pytest.raises(Conflict):
        decide(done, d, "mod3", AppealOutcome.REVERSED, "again", T0)


def test_a_reversal_is_a_new_decision_that_supersedes_the_old_one() -> None:
    d = under_appeal(decision())
    new = reversal(d, "d2", "mod2", "a1", "quoted to refute", T0 + 9)
    assert new.basis is Basis.APPEAL_REVERSAL and new.action is ActionKind.REVERSAL and not new.restricts
    assert new.supersedes_id == "d1" and new.decided_by == "mod2" and new.affected_account_id == "acct"
    assert reversed_by(d).state is DecisionState.SUPERSEDED
    with pytest.raises(Conflict):
        reversed_by(reversed_by(d))


def chain(n: int) -> list[audit.AuditEntry]:
    out: list[audit.AuditEntry] = []
    prev = audit.GENESIS
    for seq in range(1, n + 1):
        entry = audit.seal(
            prev, seq, 1000.0 + seq, "moderator", "m", "decision.made", "decision", f"d{seq}", {"n": seq}
        )
        out.append(entry)
        prev = entry.hash
    return out


def test_an_intact_chain_verifies_and_pages_verify_in_turn() -> None:
    entries = chain(5)
    assert audit.verify(entries) == audit.Verification(True, 5)
    assert audit.verify(entries[2:], entries[1].hash, 3).ok


def test_any_edit_deletion_or_reordering_breaks_the_chain() -> None:
    entries = chain(4)
    edited = [*entries[:2], replace(entries[2], payload={"n": 99}), entries[3]]
    assert audit.verify(edited) == audit.Verification(False, 2, 3, "its content does not match its hash")
    assert audit.verify([entries[0], entries[2], entries[3]]).first_bad_seq == 3
    assert not audit.verify([entries[1], entries[0]]).ok
    rehashed = audit.seal(entries[0].hash, 2, 1.0, "moderator", "m", "x", "y", "z", {})
    assert audit.verify([entries[0], rehashed, entries[2]]).first_bad_seq == 3  # a forged link is caught next
