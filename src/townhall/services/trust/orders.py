"""Orders from authorities (DSA Art. 9 and 10): an admin records an order, its receipt is confirmed at
once, and acting on it produces a decision like any other; the order keeps its status and timings.
Never acts on an order without recording it first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from townhall.domain.accounts import Account, PlatformRole
from townhall.domain.errors import Conflict, Invalid, NotFound
from townhall.domain.moderation import COUNTRY, Basis, Decision, Proposal
from townhall.domain.notices import TargetKind
from townhall.services.trust.decisions import ModerationService, Outcome
from townhall.services.trust.ports import Order, OrderOutcome, TrustUnit
from townhall.services.trust.staff import require
from townhall.trust import reasons

KINDS = ("act_against_content", "provide_information", "other_request")
OUTCOMES = ("effect_given", "partial", "not_given")


@dataclass(frozen=True, slots=True)
class OrderDraft:
    kind: str
    authority: str
    member_state: str
    legal_basis: str
    reasons: str
    target_kind: str
    target_id: str
    territorial_scope: tuple[str, ...]
    category: str
    deadline: float | None = None


def check(draft: OrderDraft) -> OrderDraft:
    if draft.kind not in KINDS:
        raise Invalid("invalid_order_kind", f"kind must be one of {', '.join(KINDS)}")
    for name in ("authority", "legal_basis", "reasons"):
        if not getattr(draft, name).strip():
            raise Invalid(f"{name}_required", f"an order needs its {name.replace('_', ' ')} (Art. 9(2))")
    state = draft.member_state.upper()
    scope = tuple(sorted({c.upper() for c in draft.territorial_scope}))
    if not COUNTRY.match(state) or not all(COUNTRY.match(c) for c in scope):
        raise Invalid("invalid_country", "member state and territorial scope are ISO 3166-1 alpha-2 codes")
    if draft.category not in reasons.CATEGORIES:
        raise Invalid("invalid_category", "category must be one of the Transparency Database categories")
    return replace(draft, member_state=state, territorial_scope=scope)


class OrderService:
    def __init__(self, moderation: ModerationService) -> None:
        self.moderation = moderation
        self.stores = moderation.stores
        self.ctx = moderation.ctx

    async def record(self, admin: Account, draft: OrderDraft) -> Order:
        require(admin, PlatformRole.ADMIN)
        draft = check(draft)
        target = await self.moderation.targets.resolve(draft.target_kind, draft.target_id)
        now = self.ctx.clock()
        order_id = self.ctx.make_id()
        async with self.stores.units.begin() as w:
            await w.audit(
                now,
                ("admin", admin.id),
                "order.recorded",
                ("order", order_id),
                {"kind": draft.kind, "member_state": draft.member_state, "target": target.target_id},
            )
            order = Order(
                id=order_id,
                kind=draft.kind,
                authority=draft.authority.strip(),
                member_state=draft.member_state,
                legal_basis=draft.legal_basis.strip(),
                reasons=draft.reasons.strip(),
                target_kind=target.kind.value,
                target_id=target.target_id,
                territorial_scope=draft.territorial_scope,
                deadline=draft.deadline,
                category=draft.category,
                received_at=now,
                receipt_confirmed_at=now,  # Art. 9(1)/10(1): receipt confirmed at once
                outcome_note="",
                state="receipt_confirmed",
                recorded_by=admin.id,
            )
            await w.record_order(order)
        return await self.get(admin, order_id)

    async def get(self, admin: Account, order_id: str) -> Order:
        require(admin, PlatformRole.ADMIN)
        found = await self.stores.orders.get(order_id)
        if found is None:
            raise NotFound("order_not_found", "no such order")
        return found

    async def recent(self, admin: Account, limit: int) -> list[Order]:
        require(admin, PlatformRole.ADMIN)
        return await self.stores.orders.recent(limit)

    async def act(
        self, admin: Account, order_id: str, proposal: Proposal | None, outcome: str, note: str
    ) -> tuple[Order, Outcome | None]:
        """Give effect to the order: with a proposal, a decision (and statement of reasons) is made."""
        order = await self.get(admin, order_id)
        if order.state != "receipt_confirmed":
            raise Conflict("order_closed", f"this order is already {order.state}")
        if outcome not in OUTCOMES:
            raise Invalid("invalid_outcome", f"outcome must be one of {', '.join(OUTCOMES)}")
        now = self.ctx.clock()

        async def close(w: TrustUnit, decision: Decision | None) -> None:
            payload = {"outcome": outcome, "decision": decision.id if decision else None}
            await w.audit(now, ("admin", admin.id), "order.acted", ("order", order_id), payload)
            await w.order_acted(order_id, OrderOutcome(now, outcome, note.strip(), decision.id if decision else None))

        if proposal is None:
            async with self.stores.units.begin() as w:
                await close(w, None)
            return await self.get(admin, order_id), None
        basis = Basis.ART9_ORDER if order.kind == "act_against_content" else Basis.AUTHORITY_OTHER
        proposal = replace(proposal, target_kind=TargetKind(order.target_kind), target_id=order.target_id)
        done = await self.moderation.record(admin.id, proposal, basis, order_id=order_id, extra=close)
        return await self.get(admin, order_id), done
