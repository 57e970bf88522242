"""Trust and safety records: orders from authorities (Art. 9, 10), the audit log, the transparency report
(Art. 15, 24), the well-known entry point and the public view of a space's restrictions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from townhall.api.accounts import current_account
from townhall.api.http import ok, op, read_json
from townhall.api.runtime import runtime_of
from townhall.api.trust.common import decision_out, limit_of, period_of, proposal_of, record_out, trust_of
from townhall.api.trust.schemas import DisputeCloseIn, DisputeIn, OrderActIn, OrderIn, ReferralIn, RoleIn
from townhall.domain.accounts import PlatformRole
from townhall.domain.errors import Invalid
from townhall.domain.moderation import ActionKind
from townhall.services.trust.disputes import ReferralDraft
from townhall.services.trust.orders import OrderDraft
from townhall.services.trust.reports import period, report
from townhall.services.trust.staff import require
from townhall.trust import audit, reasons, transparency


async def public_restrictions(request: Request) -> Response:
    """What listeners and clients show: labels, removal from discovery, countries withheld (X parity)."""
    t = trust_of(request)
    space_id = request.path_params["space_id"]
    now = runtime_of(request).clock()
    found = [r for r in await t.stores.restrictions.of_target(space_id) if r.in_force(now)]
    return ok(
        {
            "labels": sorted({r.label for r in found if r.action == ActionKind.LABEL.value and r.label}),
            "discoverable": not any(r.action == ActionKind.RESTRICT_DISCOVERY.value for r in found),
            "withheld_in": sorted(await t.withholdings.countries(space_id)),
        }
    )


# --- orders from authorities ------------------------------------------------------------------------
async def record_order(request: Request) -> Response:
    admin = await current_account(request)
    b = await read_json(request, OrderIn)
    draft = OrderDraft(
        b.kind,
        b.authority,
        b.member_state,
        b.legal_basis,
        b.reasons,
        b.target_kind,
        b.target_id,
        tuple(b.territorial_scope),
        b.category,
        b.deadline,
    )
    return ok(record_out(await trust_of(request).orders.record(admin, draft)), status=201)


async def list_orders(request: Request) -> Response:
    admin = await current_account(request)
    found = await trust_of(request).orders.recent(admin, limit_of(request))
    return ok({"orders": [record_out(o) for o in found]})


async def act_on_order(request: Request) -> Response:
    admin = await current_account(request)
    body = await read_json(request, OrderActIn)
    t = trust_of(request)
    order = await t.orders.get(admin, request.path_params["order_id"])
    proposal = proposal_of(body.decision, order.target_kind, order.target_id) if body.decision else None
    acted, done = await t.orders.act(admin, order.id, proposal, body.outcome, body.note)
    return ok(
        {"order": record_out(acted), "decision": decision_out(done.decision, done.statement_id) if done else None}
    )


# --- audit and transparency -------------------------------------------------------------------------
async def audit_entries(request: Request) -> Response:
    require(await current_account(request), PlatformRole.ADMIN)
    try:
        after = int(request.query_params.get("after", "0"))
    except ValueError as exc:
        raise Invalid("invalid_after", "after must be a sequence number") from exc
    found = await trust_of(request).stores.audit.entries(after, limit_of(request, 100))
    return ok({"entries": [audit.as_json(e) for e in found]})


async def audit_verify(request: Request) -> Response:
    require(await current_account(request), PlatformRole.ADMIN)
    result = await audit.verify(trust_of(request).stores.audit)
    return ok(
        {"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq, "problem": result.problem}
    )


def _platform(request: Request) -> str:
    return str(runtime_of(request).public_url)


REPORTS_KEPT = 32  # periods kept; the oldest computed is forgotten first
REPORT_MAX_AGE_S = 60  # what browsers and caches may keep a report for


class ReportCache:
    """The transparency report is public and costly (it reads every record of its period): each period's
    figures are computed once per change of the trust records, one computation at a time, and every
    other request is answered from the copy. Every trust write appends to the audit log first, in the
    same transaction, so the log's head names the records' version: one indexed read per request says
    whether the copy still holds. A flood of report requests, whatever periods it asks for, costs one
    computation after another, never many at once."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._lock = asyncio.Lock()

    async def figures(self, request: Request, start: str, end: str) -> dict[str, Any]:
        period(start, end)  # an invalid period is refused before it waits for anything
        stores = trust_of(request).stores
        version = (await stores.audit.head())[0]
        found = self._kept.get((start, end))
        if found is not None and found[0] == version:
            return found[1]
        async with self._lock:
            version = (await stores.audit.head())[0]
            found = self._kept.get((start, end))  # computed while this request waited its turn
            if found is not None and found[0] == version:
                return found[1]
            figures = await report(stores, _platform(request), start, end)
            self._kept.pop((start, end), None)
            self._kept[(start, end)] = (version, figures)
            if len(self._kept) > REPORTS_KEPT:
                del self._kept[next(iter(self._kept))]
            return figures


def _reports(request: Request) -> ReportCache:
    cache: ReportCache = request.app.state.__dict__.setdefault("transparency_reports", ReportCache())
    return cache


async def transparency_json(request: Request) -> Response:
    start, end = period_of(request)
    figures = await _reports(request).figures(request, start, end)
    return ok(figures, headers={"Cache-Control": f"public, max-age={REPORT_MAX_AGE_S}"})


async def transparency_page(request: Request) -> Response:
    start, end = period_of(request)
    figures = await _reports(request).figures(request, start, end)
    return HTMLResponse(transparency.page(figures), headers={"Cache-Control": f"public, max-age={REPORT_MAX_AGE_S}"})


async def well_known(request: Request) -> Response:
    base = _platform(request)
    return ok(
        {
            "notice_endpoint": f"{base}/api/notices",
            "transparency_report": f"{base}/transparency",
            "transparency_report_json": f"{base}/api/transparency",
            "statement_of_reasons_format": "DSA Transparency Database API v1 (submission schema of 2025-07-01)",
            "appeals": f"{base}/api/decisions/{{decision_id}}/appeals",
            "categories": list(reasons.CATEGORIES),
            "keywords": list(reasons.KEYWORDS),
        }
    )


# --- out-of-court disputes (Art. 21) and referrals to law enforcement (Art. 18) ----------------------
async def open_dispute(request: Request) -> Response:
    admin = await current_account(request)
    b = await read_json(request, DisputeIn)
    disputes = trust_of(request).disputes
    opened = await disputes.open(admin, b.decision_id, b.body_name, b.body_certification_ref, b.appeal_id)
    return ok(record_out(opened), 201)


async def list_disputes(request: Request) -> Response:
    admin = await current_account(request)
    found = await trust_of(request).disputes.recent(admin, limit_of(request))
    return ok({"disputes": [record_out(d) for d in found]})


async def close_dispute(request: Request) -> Response:
    admin = await current_account(request)
    b = await read_json(request, DisputeCloseIn)
    closed, done = await trust_of(request).disputes.close(
        admin, request.path_params["dispute_id"], b.outcome, b.implemented, b.note
    )
    return ok(
        {"dispute": record_out(closed), "reversal": decision_out(done.decision, done.statement_id) if done else None}
    )


async def refer(request: Request) -> Response:
    moderator = await current_account(request)
    b = await read_json(request, ReferralIn)
    draft = ReferralDraft(tuple(b.member_states), b.authority, b.channel, b.summary, b.notice_id, b.decision_id)
    sent = await trust_of(request).disputes.refer(moderator, draft)
    return ok({"id": sent.id, "member_states": list(sent.member_states), "sent_at": sent.sent_at}, status=201)


async def list_referrals(request: Request) -> Response:
    moderator = await current_account(request)
    found = await trust_of(request).disputes.referrals(moderator, limit_of(request))
    return ok({"referrals": [record_out(r) for r in found]})


async def set_role(request: Request) -> Response:
    admin = await current_account(request)
    b = await read_json(request, RoleIn)
    account = await trust_of(request).staff.set_role(admin, request.path_params["account_id"], b.role, b.granted)
    return ok({"id": account.id, "handle": account.handle, "platform_roles": sorted(account.platform_roles)})


def routes() -> list[BaseRoute]:
    t, a, m = "trust", "admin session", "moderator session"
    adm = "/api/admin"
    return [
        op(
            "POST",
            f"{adm}/accounts/{{account_id}}/roles",
            set_role,
            summary="Give or take a platform role (moderator, trusted_flagger, admin)",
            tag=t,
            body=RoleIn,
            auth=a,
            errors=(400, 401, 403, 404, 409),
        ),
        op(
            "POST",
            f"{adm}/disputes",
            open_dispute,
            summary="Record an out-of-court dispute (Art. 21)",
            tag=t,
            body=DisputeIn,
            auth=a,
            status=201,
            errors=(400, 401, 403, 404),
        ),
        op("GET", f"{adm}/disputes", list_disputes, summary="Out-of-court disputes", tag=t, auth=a),
        op(
            "POST",
            f"{adm}/disputes/{{dispute_id}}/close",
            close_dispute,
            summary="The body's outcome; implementing one for the recipient reverses the decision",
            tag=t,
            body=DisputeCloseIn,
            auth=a,
            errors=(400, 401, 403, 404, 409),
        ),
        op(
            "POST",
            f"{adm}/referrals",
            refer,
            summary="Record a referral to law enforcement (Art. 18)",
            tag=t,
            body=ReferralIn,
            auth=m,
            status=201,
            errors=(400, 401, 403),
        ),
        op("GET", f"{adm}/referrals", list_referrals, summary="Referrals to law enforcement", tag=t, auth=m),
        op(
            "GET",
            "/api/spaces/{space_id}/moderation",
            public_restrictions,
            summary="Labels, removal from discovery and countries where the space is withheld",
            tag=t,
        ),
        op("GET", "/.well-known/dsa", well_known, summary="Where to send notices and find reports", tag=t),
        op(
            "GET",
            "/api/transparency",
            transparency_json,
            summary="Transparency report figures (?from=&to=)",
            tag=t,
            errors=(400,),
        ),
        op(
            "GET",
            "/transparency",
            transparency_page,
            summary="Transparency report as a page with charts (?from=&to=)",
            tag=t,
            errors=(400,),
        ),
        op(
            "POST",
            f"{adm}/orders",
            record_order,
            summary="Record an order from an authority (Art. 9, 10)",
            tag=t,
            body=OrderIn,
            auth=a,
            status=201,
            errors=(400, 401, 403, 404),
        ),
        op("GET", f"{adm}/orders", list_orders, summary="Orders from authorities", tag=t, auth=a),
        op(
            "POST",
            f"{adm}/orders/{{order_id}}/act",
            act_on_order,
            summary="Give effect to an order",
            tag=t,
            body=OrderActIn,
            auth=a,
            errors=(400, 401, 403, 404, 409),
        ),
        op("GET", f"{adm}/audit", audit_entries, summary="Audit log entries (?after=seq)", tag=t, auth=a),
        op("GET", f"{adm}/audit/verify", audit_verify, summary="Verify the audit log's hash chain", tag=t, auth=a),
    ]
