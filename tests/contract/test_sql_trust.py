"""The trust area's relational contract: each per-aggregate repository (store/sql/trust/) keeps the
port the services declare (services/trust/ports.py) the same on SQLite and PostgreSQL, after the real
Alembic migrations, and the unit of work commits all of its writes or none.

One migrated database per backend serves the module; each test uses its own ids and its own stretch
of time, so `between` queries and listings see only what the test wrote (filtered by id where global).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import replace

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from townhall.domain import audit
from townhall.domain.appeals import Appeal, AppealOutcome, AppealState, AppellantRole
from townhall.domain.errors import Conflict
from townhall.domain.misuse import Measure, MisuseAction, StrikeKind
from townhall.domain.moderation import ActionKind, Automation, Basis, Decision, DecisionState, Ground, Proposal
from townhall.domain.notices import Notice, NoticeItem, SourceKind, TargetKind, decide
from townhall.services.trust.ports import (
    Dispute,
    DisputeOutcome,
    HistoryEntry,
    InboxEntry,
    MisuseMeasure,
    Order,
    OrderOutcome,
    Referral,
    Restriction,
    Statement,
    Strike,
    TrustStores,
)
from townhall.store.sql.trust import stores as sql_stores
from townhall.trust import audit as audit_log

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]
_slots = itertools.count(1)


@pytest.fixture
def stores(engine: AsyncEngine) -> TrustStores:
    return sql_stores(engine)


@pytest.fixture
def t0() -> float:
    """The start of a day of time that belongs to this test alone."""
    return 1_764_170_000.25 + next(_slots) * 86_400.0


def new_id() -> str:
    return uuid.uuid4().hex


def notice(at: float, **kw: object) -> Notice:
    fields: dict[str, object] = {
        "id": new_id(),
        "received_at": at,
        "source_kind": SourceKind.PUBLIC,
        "items": (NoticeItem(TargetKind.SPACE_REPLAY, new_id(), 1000, 2000),),
        "category": "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        "explanation": "it is illegal",
        "is_illegal_content_claim": True,
        "bona_fide": True,
        "reporter_key": new_id(),
        "keywords": ("KEYWORD_HATE_SPEECH",),
        **kw,
    }
    return Notice(**fields)  # type: ignore[arg-type]


def decision(at: float, action: ActionKind = ActionKind.WITHHOLD, **kw: object) -> Decision:
    proposal = Proposal(
        action=action,
        target_kind=TargetKind.SPACE_REPLAY,
        target_id=new_id(),
        category="STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
        ground=Ground.ILLEGAL,
        legal_ground="§ 130 StGB",
        legal_explanation="incitement",
        keywords=("KEYWORD_HATE_SPEECH",),
        countries=("DE", "AT"),
        until=at + 3600,
        automated_decision=Automation.NOT,
    )
    fields: dict[str, object] = {
        "id": new_id(),
        "basis": Basis.NOTICE,
        "proposal": proposal,
        "affected_account_id": new_id(),
        "decided_by": new_id(),
        "decided_at": at,
        "content_created_at": at - 60,
        **kw,
    }
    return Decision(**fields)  # type: ignore[arg-type]


# --- notices -------------------------------------------------------------------------------------------
async def test_a_notice_round_trips_and_is_decided_once(stores: TrustStores, t0: float) -> None:
    made = notice(t0, threat_to_life=True, notifier_account_id=new_id(), notifier_name="Ada")
    async with stores.units.begin() as w:
        await w.receive_notice(made)
    assert await stores.notices.get(made.id) == made
    assert await stores.notices.get("nobody") is None
    decided = decide(made, "d1", t0 + 5, manifestly_unfounded=True)
    async with stores.units.begin() as w:
        await w.notice_decided(decided)
    assert await stores.notices.get(made.id) == decided
    with pytest.raises(Conflict) as err:  # a second moderator deciding the same notice loses
        async with stores.units.begin() as w:
            await w.notice_decided(replace(decided, decision_id="d2"))
    assert err.value.code == "notice_not_queued"
    assert (await stores.notices.get(made.id)) == decided


async def test_the_queue_puts_threats_then_trusted_flaggers_then_the_oldest_first(
    stores: TrustStores, t0: float
) -> None:
    old = notice(t0)
    new = notice(t0 + 10)
    trusted = notice(t0 + 20, source_kind=SourceKind.TRUSTED_FLAGGER)
    threat = notice(t0 + 30, threat_to_life=True)
    done = notice(t0 + 1)
    async with stores.units.begin() as w:
        for n in (new, old, done, trusted, threat):
            await w.receive_notice(n)
        await w.notice_decided(decide(done, "d", t0 + 2))
    mine = {n.id for n in (old, new, trusted, threat, done)}
    queued = [n.id for n in await stores.notices.queued(10_000) if n.id in mine]
    assert queued == [threat.id, trusted.id, old.id, new.id]
    assert {n.id for n in await stores.notices.between(t0, t0 + 20)} == {old.id, new.id, done.id}
    assert [n.id for n in await stores.notices.by_reporter(new.reporter_key, t0)] == [new.id]
    assert await stores.notices.by_reporter(new.reporter_key, t0 + 10) == []  # strictly after `since`


# --- decisions and statements ----------------------------------------------------------------------------
async def test_a_decision_round_trips_and_its_effects_are_marked_done(stores: TrustStores, t0: float) -> None:
    first, second = decision(t0 + 1), decision(t0 + 2, ActionKind.NO_ACTION, notice_ids=("n1", "n2"))
    async with stores.units.begin() as w:
        await w.record_decision(second)
        await w.record_decision(first)
    assert await stores.decisions.get(first.id) == first
    assert await stores.decisions.get(second.id) == second
    assert [d.id for d in await stores.decisions.between(t0, t0 + 3)] == [first.id, second.id]
    assert [d.id for d in await stores.decisions.between(t0, t0 + 3, limit=1)] == [first.id]
    pending = {d.id for d in await stores.decisions.pending_effects()}
    assert {first.id, second.id} <= pending
    await stores.decisions.effects_done(first.id, t0 + 5)
    pending = {d.id for d in await stores.decisions.pending_effects()}
    assert first.id not in pending and second.id in pending
    async with stores.units.begin() as w:
        await w.decision_state(replace(first, state=DecisionState.UNDER_APPEAL))
    found = await stores.decisions.get(first.id)
    assert found is not None and found.state is DecisionState.UNDER_APPEAL


async def test_statements_are_listed_and_a_submission_is_recorded_once_per_decision(
    stores: TrustStores, t0: float
) -> None:
    decision_id = new_id()
    made = [
        Statement(new_id(), decision_id, new_id(), t0 + i, f"reasons {i}", t0 + 1e6, '{"puid": "p"}', "pending")
        for i in range(2)
    ]
    other = Statement(new_id(), new_id(), new_id(), t0 + 3, "none", t0 + 1e6, None, "not_applicable")
    async with stores.units.begin() as w:
        for s in (*made, other):
            await w.issue_statement(s)
    assert await stores.statements.get(made[0].id) == made[0]
    assert await stores.statements.get("nothing") is None
    assert {s.id for s in await stores.statements.of_decision(decision_id)} == {s.id for s in made}
    assert [s.id for s in await stores.statements.between(t0, t0 + 4)] == [made[0].id, made[1].id, other.id]
    pending = [s.id for s in await stores.statements.pending(10_000)]
    assert made[0].id in pending and made[1].id in pending and other.id not in pending
    await stores.statements.record_submission(decision_id, "accepted", "uuid-1", "", t0 + 10)
    await stores.statements.record_submission(decision_id, "rejected", None, "late", t0 + 11)  # none pending
    after = await stores.statements.get(made[1].id)
    assert after is not None
    assert (after.tdb_state, after.tdb_uuid, after.tdb_attempts, after.tdb_submitted_at) == (
        "accepted",
        "uuid-1",
        1,
        t0 + 10,
    )
    assert after.tdb_last_error is None


# --- restrictions ---------------------------------------------------------------------------------------
async def test_restrictions_are_in_force_until_they_end_or_are_lifted(stores: TrustStores, t0: float) -> None:
    target, decision_id = new_id(), new_id()
    forever = Restriction(new_id(), decision_id, "withhold", "space_replay", target, ("DE",), "legal_demand", t0)
    ending = Restriction(new_id(), new_id(), "withhold", "space_replay", target, ("FR",), None, t0 + 1, t0 + 100)
    label = Restriction(new_id(), new_id(), "label", "space_replay", target, (), "satire", t0 + 2)
    async with stores.units.begin() as w:
        for r in (forever, ending, label):
            await w.restrict(r)
    assert {r.id for r in await stores.restrictions.of_target(target)} == {forever.id, ending.id, label.id}
    assert [r for r in await stores.restrictions.of_target(target) if r.id == forever.id] == [forever]
    active = {r.id for r in await stores.restrictions.active(ActionKind.WITHHOLD, t0 + 50)}
    assert {forever.id, ending.id} <= active and label.id not in active
    assert ending.id not in {r.id for r in await stores.restrictions.active(ActionKind.WITHHOLD, t0 + 100)}
    assert {r.id for r in await stores.restrictions.between(t0 + 1, t0 + 3)} == {ending.id, label.id}
    async with stores.units.begin() as w:
        await w.lift_restrictions(decision_id, t0 + 60, "reversal-1")
    lifted = next(r for r in await stores.restrictions.of_target(target) if r.id == forever.id)
    assert (lifted.lifted_at, lifted.lifted_by) == (t0 + 60, "reversal-1")
    assert not lifted.in_force(t0 + 61)
    assert forever.id not in {r.id for r in await stores.restrictions.active(ActionKind.WITHHOLD, t0 + 61)}


# --- inbox and history -----------------------------------------------------------------------------------
async def test_the_inbox_lists_the_newest_first(stores: TrustStores, t0: float) -> None:
    account = new_id()
    entries = [InboxEntry(new_id(), account, t0 + i, "statement_of_reasons", new_id(), {"n": i}) for i in range(3)]
    async with stores.units.begin() as w:
        for e in entries:
            await w.inform(e)
    assert await stores.inbox.of_account(account, 10) == list(reversed(entries))
    assert await stores.inbox.of_account(account, 1) == [entries[2]]
    assert await stores.inbox.of_account(new_id(), 10) == []


async def test_an_accounts_history_keeps_its_order(stores: TrustStores, t0: float) -> None:
    account = new_id()
    steps = [
        HistoryEntry(account, "active", "suspended", t0 + 100, "notice", "why", "d1", None, "moderator", "m", t0, "n"),
        HistoryEntry(account, "suspended", "active", None, "appeal_reversal", "ok", "d2", "a1", "moderator", "m",
                     t0 + 5, ""),
    ]  # fmt: skip
    async with stores.units.begin() as w:
        for e in steps:
            await w.add_history(e)
    found = await stores.history.of_account(account)
    assert [replace(e, seq=None) for e in found] == steps
    assert found[0].seq is not None and found[1].seq is not None and found[0].seq < found[1].seq


# --- appeals ---------------------------------------------------------------------------------------------
async def test_an_appeal_is_listed_and_decided_once(stores: TrustStores, t0: float) -> None:
    decision_id, appellant = new_id(), new_id()
    appeal = Appeal(new_id(), decision_id, appellant, AppellantRole.AFFECTED, "please", t0)
    other = Appeal(new_id(), decision_id, new_id(), AppellantRole.NOTIFIER, "no", t0 + 1)
    async with stores.units.begin() as w:
        await w.lodge_appeal(appeal)
        await w.lodge_appeal(other)
    assert await stores.appeals.get(appeal.id) == appeal
    assert await stores.appeals.get("none") is None
    assert [a.id for a in await stores.appeals.listed(None, 10, decision_id)] == [appeal.id, other.id]
    assert [a.id for a in await stores.appeals.by_appellant(appellant, t0 - 1)] == [appeal.id]
    assert {a.id for a in await stores.appeals.between(t0, t0 + 1)} == {appeal.id}
    decided = replace(
        appeal, state=AppealState.DECIDED, outcome=AppealOutcome.UPHELD, reviewer_id="r", reasons="r", decided_at=t0 + 9
    )
    async with stores.units.begin() as w:
        await w.appeal_decided(decided)
    assert await stores.appeals.get(appeal.id) == decided
    assert [a.id for a in await stores.appeals.listed(AppealState.OPEN, 10, decision_id)] == [other.id]
    with pytest.raises(Conflict) as err:
        async with stores.units.begin() as w:
            await w.appeal_decided(replace(decided, outcome=AppealOutcome.REVERSED))
    assert err.value.code == "appeal_decided"
    assert await stores.appeals.get(appeal.id) == decided


# --- orders, disputes, referrals --------------------------------------------------------------------------
async def test_an_order_is_recorded_then_acted_on(stores: TrustStores, t0: float) -> None:
    order = Order(
        new_id(), "act_against_content", "Court", "DE", "Art. 9", "reasons", "space_replay", new_id(), ("DE", "AT"),
        None, "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH", t0, t0, "", "receipt_confirmed", new_id(),
    )  # fmt: skip
    async with stores.units.begin() as w:
        await w.record_order(order)
    assert await stores.orders.get(order.id) == order
    assert await stores.orders.get("none") is None
    assert [o.id for o in await stores.orders.between(t0, t0 + 1)] == [order.id]
    async with stores.units.begin() as w:
        await w.order_acted(order.id, OrderOutcome(t0 + 7, "effect_given", "done", "d1"))
    acted = await stores.orders.get(order.id)
    assert acted == replace(
        order, effect_given_at=t0 + 7, outcome="effect_given", outcome_note="done", state="effect_given",
        decision_id="d1",
    )  # fmt: skip
    assert order.id in {o.id for o in await stores.orders.recent(10_000)}


async def test_a_dispute_is_opened_and_closed_and_a_referral_kept(stores: TrustStores, t0: float) -> None:
    dispute = Dispute(new_id(), new_id(), None, "ADR body", "cert-1", t0, "", new_id())
    referral = Referral(new_id(), new_id(), None, ("DE", "FR"), "Police", "e-mail", "threat", t0 + 1, new_id())
    async with stores.units.begin() as w:
        await w.open_dispute(dispute)
        await w.refer(referral)
    assert await stores.disputes.get(dispute.id) == dispute
    assert await stores.disputes.get("none") is None
    assert [d.id for d in await stores.disputes.between(t0, t0 + 1)] == [dispute.id]
    async with stores.units.begin() as w:
        await w.close_dispute(dispute.id, DisputeOutcome(t0 + 9, "for_recipient", True, "note", "d9"))
    closed = await stores.disputes.get(dispute.id)
    assert closed == replace(
        dispute, closed_at=t0 + 9, outcome="for_recipient", implemented=True, note="note", new_decision_id="d9"
    )
    assert dispute.id in {d.id for d in await stores.disputes.recent(10_000)}
    assert await stores.referrals.between(t0, t0 + 2) == [referral]
    assert referral.id in {r.id for r in await stores.referrals.recent(10_000)}


# --- misuse ----------------------------------------------------------------------------------------------
async def test_strikes_and_measures_are_counted_per_subject_and_kind(stores: TrustStores, t0: float) -> None:
    subject = new_id()
    kind, other_kind = StrikeKind.MANIFESTLY_ILLEGAL_CONTENT, StrikeKind.MANIFESTLY_UNFOUNDED_NOTICE
    warn = MisuseMeasure(new_id(), "account", subject, kind, "warn", t0 + 3, None, None)
    suspend = MisuseMeasure(new_id(), "account", subject, kind, "suspend", t0 + 4, t0 + 100, "d1")
    async with stores.units.begin() as w:
        for i in range(3):
            await w.strike(Strike(new_id(), "account", subject, kind, new_id(), t0 + i))
        await w.strike(Strike(new_id(), "account", subject, other_kind, new_id(), t0))
        await w.take_measure(warn)
        await w.take_measure(suspend)
    assert sorted(await stores.misuse.strike_times(subject, kind, t0)) == [t0 + 1, t0 + 2]  # after `since`
    assert await stores.misuse.strike_times(subject, other_kind, t0 - 1) == [t0]
    assert sorted(await stores.misuse.measures(subject, kind), key=lambda m: m.at) == [
        Measure(MisuseAction.WARN, t0 + 3, None),
        Measure(MisuseAction.SUSPEND, t0 + 4, t0 + 100),
    ]
    assert await stores.misuse.measures(subject, other_kind) == []
    assert sorted(await stores.misuse.measures_between(t0, t0 + 5), key=lambda m: m.at) == [warn, suspend]


# --- audit and the unit of work -----------------------------------------------------------------------------
async def test_audit_entries_form_a_chain_that_verifies_end_to_end(stores: TrustStores, t0: float) -> None:
    seq_before, _ = await stores.audit.head()
    async with stores.units.begin() as w:
        first = await w.audit(t0, ("admin", "a1"), "role.granted", ("account", "x"), {"role": "moderator"})
        second = await w.audit(t0 + 1, ("system", "s"), "misuse.warn", ("account", "x"), {"n": 2})
    assert (first.seq, second.seq) == (seq_before + 1, seq_before + 2)
    assert second.prev_hash == first.hash
    assert await stores.audit.head() == (second.seq, second.hash)
    assert await stores.audit.entries(after_seq=seq_before) == [first, second]
    assert await stores.audit.entries(after_seq=seq_before, limit=1) == [first]
    assert await stores.audit.between(t0, t0 + 2) == [first, second]
    result = await audit_log.verify(stores.audit)
    assert result.ok and result.checked == second.seq
    assert audit.verify([first, second], first.prev_hash, first.seq).ok


async def test_a_unit_that_fails_leaves_nothing_behind(stores: TrustStores, t0: float) -> None:
    head = await stores.audit.head()
    made = notice(t0)
    with pytest.raises(RuntimeError):
        async with stores.units.begin() as w:
            await w.audit(t0, ("notifier", "anonymous"), "notice.received", ("notice", made.id), {})
            await w.receive_notice(made)
            raise RuntimeError("the process died before the commit")
    assert await stores.notices.get(made.id) is None
    assert await stores.audit.head() == head
