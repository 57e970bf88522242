"""Trust and safety endpoints (EU DSA): notices from anyone, the moderators' queue and decisions,
statements of reasons (inbox, one by one, bulk), appeals, account history, authority orders, the audit
log and the transparency report; plus the middleware that withholds live and replay media by country.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall.api.accounts import current_account
from townhall.api.errors import error_response
from townhall.api.http import bearer, client_address, ok, op, read_json
from townhall.api.trust_schemas import (
    AppealDecisionIn,
    AppealIn,
    AppealOut,
    DecisionIn,
    DecisionOut,
    NoticeIn,
    NoticeOut,
    OrderActIn,
    OrderIn,
    ProposalIn,
)
from townhall.api.web import page
from townhall.domain.accounts import PlatformRole
from townhall.domain.appeals import Appeal
from townhall.domain.errors import Conflict, Invalid, LegallyWithheld, NotFound
from townhall.domain.moderation import ActionKind, Decision, Proposal
from townhall.domain.notices import Notice, NoticeState, SourceKind
from townhall.services.moderation import ModerationService, require
from townhall.services.trust_appeals import AppealService
from townhall.services.trust_orders import OrderDraft, OrderService
from townhall.services.trust_reports import report, tdb_statements
from townhall.services.trust_tdb import TdbPublisher
from townhall.services.trust_withholding import Withholdings
from townhall.store.sql.repos_trust import TrustRepo, proposal_json
from townhall.trust import audit, geo, reasons, transparency
from townhall.trust.tdb import TdbClient

MEDIA_PREFIXES = ("/live/", "/replay/")
WITHHELD_HEADER = "X-Townhall-Withheld"


@dataclass
class Trust:
    """The area's services, built once per runtime by `attach`."""

    repo: TrustRepo
    withholdings: Withholdings
    moderation: ModerationService
    appeals: AppealService
    orders: OrderService
    geo: geo.CountryLookup
    tdb: TdbPublisher | None = None


def attach(rt: Any) -> Trust:
    """Build the trust services on the runtime, add the withholding gate to admission and the
    start-up hook that finishes decisions interrupted by a crash."""
    s = rt.settings
    repo = TrustRepo(rt.db)
    held = Withholdings(repo, rt.clock, s.withholding_refresh_s)
    moderation = ModerationService(rt.ctx, repo, rt.accounts, rt.spaces, held, rt.keys.signing_key)
    lookup = geo.CountryLookup(s.country_header, s.geo_trusted_proxies, s.geoip_database)
    trust = Trust(repo, held, moderation, AppealService(moderation), OrderService(moderation), lookup)
    rt.admission.space_gates.append(held.gate)
    rt.startup.append(moderation.resume)
    if s.dsa_tdb_url:
        trust.tdb = TdbPublisher(repo, TdbClient(s.dsa_tdb_url, s.dsa_tdb_token), rt.clock)

        async def submit_statements() -> None:
            assert trust.tdb is not None
            await trust.tdb.start(s.dsa_tdb_every_s)

        rt.startup.append(submit_statements)
        rt.shutdown.append(trust.tdb.stop)
    rt.trust = trust
    return trust


def _trust(request: Request) -> Trust:
    found: Trust = request.app.state.runtime.trust
    return found


def _limit(request: Request, default: int = 50) -> int:
    try:
        wanted = int(request.query_params.get("limit", str(default)))
    except ValueError as exc:
        raise Invalid("invalid_limit", "limit must be a number") from exc
    cap: int = request.app.state.runtime.settings.list_limit_max
    return max(1, min(wanted, cap))


def _period(request: Request) -> tuple[str, str]:
    today = datetime.fromtimestamp(request.app.state.runtime.clock(), UTC).date()
    return (
        request.query_params.get("from", f"{today.year}-01-01"),
        request.query_params.get("to", today.isoformat()),
    )


# --- output shapes ----------------------------------------------------------------------------------
def notice_out(n: Notice, priority: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": n.id,
        "state": n.state.value,
        "received_at": n.received_at,
        "source_kind": n.source_kind.value,
        "category": n.category,
        "keywords": list(n.keywords),
        "explanation": n.explanation,
        "is_illegal_content_claim": n.is_illegal_content_claim,
        "threat_to_life": n.threat_to_life,
        "items": [
            {
                "kind": i.kind.value,
                "id": i.target_id,
                "media_start_ms": i.media_start_ms,
                "media_end_ms": i.media_end_ms,
            }
            for i in n.items
        ],
        "decision_id": n.decision_id,
        "signed_in_notifier": n.notifier_account_id is not None,
    }
    if priority is not None:
        out["priority"] = priority
    return out


def decision_out(d: Decision, statement_id: str | None = None) -> dict[str, Any]:
    return {
        **DecisionOut(
            id=d.id,
            puid=d.puid,
            basis=d.basis.value,
            action=d.action.value,
            target_kind=d.proposal.target_kind.value,
            target_id=d.proposal.target_id,
            affected_account_id=d.affected_account_id,
            decided_by=d.decided_by,
            decided_at=d.decided_at,
            state=d.state.value,
            statement_id=statement_id,
        ).model_dump(),
        "proposal": proposal_json(d.proposal),
        "notice_ids": list(d.notice_ids),
        "order_id": d.order_id,
        "appeal_id": d.appeal_id,
        "supersedes_id": d.supersedes_id,
    }


def appeal_out(a: Appeal) -> dict[str, Any]:
    return AppealOut(
        id=a.id,
        decision_id=a.decision_id,
        role=a.role.value,
        state=a.state.value,
        lodged_at=a.lodged_at,
        outcome=a.outcome.value if a.outcome else None,
        reasons=a.reasons,
        reviewer_id=a.reviewer_id,
        new_decision_id=a.new_decision_id,
    ).model_dump()


def proposal_of(body: ProposalIn, target_kind: str, target_id: str) -> Proposal:
    from townhall.domain.notices import TargetKind

    kinds = {"space": TargetKind.SPACE_LIVE, "replay": TargetKind.SPACE_REPLAY}
    try:
        kind = kinds.get(target_kind) or TargetKind(target_kind)
    except ValueError as exc:
        raise Invalid("invalid_target_kind", "target_kind must be space, replay, clip or account") from exc
    return Proposal(
        action=body.action,
        target_kind=kind,
        target_id=target_id,
        category=body.category,
        ground=body.ground,
        legal_ground=body.legal_ground,
        legal_explanation=body.legal_explanation,
        tos_ground=body.tos_ground,
        tos_explanation=body.tos_explanation,
        tos_also_illegal=body.tos_also_illegal,
        keywords=tuple(body.keywords),
        speaker_id=body.speaker_id,
        countries=tuple(body.countries),
        until=body.until,
        label=body.label,
        facts=body.facts,
        automated_detection=body.automated_detection,
        automated_decision=body.automated_decision,
        manifestly=body.manifestly,
    )


# --- notices (anyone) -------------------------------------------------------------------------------
async def submit_notice(request: Request) -> Response:
    t = _trust(request)
    body = await read_json(request, NoticeIn)
    session = bearer(request)
    reporter = await current_account(request) if session else None
    key = t.moderation.reporter_key(reporter, client_address(request))
    draft = Notice(
        id="",
        received_at=0.0,
        source_kind=SourceKind.PUBLIC,
        items=(),
        category=body.category,
        explanation=body.explanation,
        is_illegal_content_claim=body.is_illegal_content_claim,
        bona_fide=body.bona_fide,
        reporter_key=key,
        keywords=tuple(body.keywords),
        threat_to_life=body.threat_to_life,
        notifier_name=(body.notifier_name or "").strip() or None,
        notifier_email=(body.notifier_email or "").strip() or None,
    )
    items = [(i.kind, i.id, i.media_start_ms, i.media_end_ms) for i in body.items]
    notice = await t.moderation.submit_notice(draft, items, reporter)
    message = (
        "Thank you: your notice was received and will be reviewed."
        if notice.state is NoticeState.QUEUED
        else "Your notice was recorded, but notices from you are not processed for now (Art. 23(2) DSA)."
    )
    out = NoticeOut(
        id=notice.id,
        state=notice.state.value,
        received_at=notice.received_at,
        source_kind=notice.source_kind.value,
        message=message,
    )
    return ok(out.model_dump(), status=201)


# --- moderators -------------------------------------------------------------------------------------
async def queue(request: Request) -> Response:
    moderator = await current_account(request)
    ranked = await _trust(request).moderation.queue(moderator, _limit(request))
    return ok({"notices": [notice_out(n, p) for p, n in ranked]})


async def notice_detail(request: Request) -> Response:
    moderator = await current_account(request)
    notice = await _trust(request).moderation.notice(moderator, request.path_params["notice_id"])
    return ok(notice_out(notice))


async def decide(request: Request) -> Response:
    moderator = await current_account(request)
    body = await read_json(request, DecisionIn)
    if not body.target_kind or not body.target_id:
        raise Invalid("target_required", "name the target: target_kind and target_id")
    proposal = proposal_of(body, body.target_kind, body.target_id)
    done = await _trust(request).moderation.decide(moderator, proposal, body.notice_ids)
    return ok(decision_out(done.decision, done.statement_id), status=201)


async def _moderator_decision(request: Request) -> Decision:
    require(await current_account(request), PlatformRole.MODERATOR)
    found = await _trust(request).repo.decision(request.path_params["decision_id"])
    if found is None:
        raise NotFound("decision_not_found", "no such decision")
    return found


async def decisions(request: Request) -> Response:
    require(await current_account(request), PlatformRole.MODERATOR)
    from townhall.services.trust_reports import period

    start, end = period(*_period(request))
    found = await _trust(request).repo.decisions_between(start, end, _limit(request, 100))
    return ok({"decisions": [decision_out(d) for d in found]})


async def decision_detail(request: Request) -> Response:
    decision = await _moderator_decision(request)
    rows = await _trust(request).repo.statements_of_decision(decision.id)
    return ok({**decision_out(decision), "statements": [_statement_out(r) for r in rows]})


async def sor_json(request: Request) -> Response:
    decision = await _moderator_decision(request)
    for row in await _trust(request).repo.statements_of_decision(decision.id):
        if row["tdb_payload"]:
            return ok(json.loads(row["tdb_payload"]))
    raise Conflict("not_for_tdb", "this decision has no Transparency Database statement (no action, order, reversal)")


async def sor_export(request: Request) -> Response:
    require(await current_account(request), PlatformRole.MODERATOR)
    start, end = _period(request)
    lines = [
        json.dumps(s, separators=(",", ":")) + "\n" for s in await tdb_statements(_trust(request).repo, start, end)
    ]
    return Response("".join(lines), media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})


async def withholdings(request: Request) -> Response:
    require(await current_account(request), PlatformRole.MODERATOR)
    t = _trust(request)
    rows = await t.repo.active_restrictions(ActionKind.WITHHOLD, request.app.state.runtime.clock())
    return ok({"withholdings": [dict(r) for r in rows]})


async def public_restrictions(request: Request) -> Response:
    """What listeners and clients show: labels, removal from discovery, countries withheld (X parity)."""
    t = _trust(request)
    space_id = request.path_params["space_id"]
    now = request.app.state.runtime.clock()
    rows = [
        r
        for r in await t.repo.restrictions_of(space_id)
        if r["lifted_at"] is None and (r["ends_at"] is None or r["ends_at"] > now)
    ]
    return ok(
        {
            "labels": sorted({r["label"] for r in rows if r["action"] == ActionKind.LABEL.value and r["label"]}),
            "discoverable": not any(r["action"] == ActionKind.RESTRICT_DISCOVERY.value for r in rows),
            "withheld_in": sorted(await t.withholdings.countries(space_id)),
        }
    )


# --- the affected account ---------------------------------------------------------------------------
def _statement_out(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "decision_id": row["decision_id"],
        "recipient_account_id": row["recipient_account_id"],
        "created_at": row["created_at"],
        "text": row["body"],
        "appeal_until": row["window_ends_at"],
        "tdb_state": row["tdb_state"],
        "tdb": json.loads(row["tdb_payload"]) if row["tdb_payload"] else None,
    }


async def my_inbox(request: Request) -> Response:
    account = await current_account(request)
    rows = await _trust(request).repo.inbox(account.id, _limit(request))
    return ok({"messages": [dict(r) for r in rows]})


async def my_statement(request: Request) -> Response:
    account = await current_account(request)
    row = await _trust(request).repo.statement(request.path_params["statement_id"])
    if row is None or (row["recipient_account_id"] != account.id and not account.has_role(PlatformRole.MODERATOR)):
        raise NotFound("statement_not_found", "no such statement of reasons")
    return ok(_statement_out(row))


async def my_history(request: Request) -> Response:
    account = await current_account(request)
    return ok({"history": await _trust(request).appeals.history(account, account.id)})


async def account_history(request: Request) -> Response:
    viewer = await current_account(request)
    return ok({"history": await _trust(request).appeals.history(viewer, request.path_params["account_id"])})


# --- appeals ----------------------------------------------------------------------------------------
async def lodge_appeal(request: Request) -> Response:
    account = await current_account(request)
    body = await read_json(request, AppealIn)
    appeal = await _trust(request).appeals.lodge(account, request.path_params["decision_id"], body.text)
    return ok(appeal_out(appeal), status=201)


async def open_appeals(request: Request) -> Response:
    moderator = await current_account(request)
    found = await _trust(request).appeals.open_appeals(moderator, _limit(request))
    return ok({"appeals": [appeal_out(a) for a in found]})


async def decide_appeal(request: Request) -> Response:
    reviewer = await current_account(request)
    body = await read_json(request, AppealDecisionIn)
    appeal, done = await _trust(request).appeals.decide(
        reviewer, request.path_params["appeal_id"], body.outcome, body.reasons
    )
    out = appeal_out(appeal)
    out["reversal"] = decision_out(done.decision, done.statement_id) if done else None
    return ok(out)


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
    return ok(await _trust(request).orders.record(admin, draft), status=201)


async def list_orders(request: Request) -> Response:
    admin = await current_account(request)
    return ok({"orders": await _trust(request).orders.list(admin, _limit(request))})


async def act_on_order(request: Request) -> Response:
    admin = await current_account(request)
    body = await read_json(request, OrderActIn)
    t = _trust(request)
    order = await t.orders.get(admin, request.path_params["order_id"])
    proposal = proposal_of(body.decision, order["target_kind"], order["target_id"]) if body.decision else None
    row, done = await t.orders.act(admin, order["id"], proposal, body.outcome, body.note)
    return ok({"order": row, "decision": decision_out(done.decision, done.statement_id) if done else None})


# --- audit and transparency -------------------------------------------------------------------------
async def audit_entries(request: Request) -> Response:
    require(await current_account(request), PlatformRole.ADMIN)
    try:
        after = int(request.query_params.get("after", "0"))
    except ValueError as exc:
        raise Invalid("invalid_after", "after must be a sequence number") from exc
    found = await _trust(request).repo.audit_entries(after, _limit(request, 100))
    return ok({"entries": [audit.as_json(e) for e in found]})


async def audit_verify(request: Request) -> Response:
    require(await current_account(request), PlatformRole.ADMIN)
    result = await audit.verify(_trust(request).repo)
    return ok(
        {"ok": result.ok, "checked": result.checked, "first_bad_seq": result.first_bad_seq, "problem": result.problem}
    )


def _platform(request: Request) -> str:
    return str(request.app.state.runtime.public_url)


async def transparency_json(request: Request) -> Response:
    start, end = _period(request)
    return ok(await report(_trust(request).repo, _platform(request), start, end))


async def transparency_page(request: Request) -> Response:
    start, end = _period(request)
    figures = await report(_trust(request).repo, _platform(request), start, end)
    return HTMLResponse(transparency.page(figures), headers={"Cache-Control": "no-store"})


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


def routes(rt: Any) -> list[BaseRoute]:
    attach(rt)
    t, m, a, me = "trust", "moderator session", "admin session", "session"
    adm = "/api/admin"
    return [
        op(
            "POST",
            "/api/notices",
            submit_notice,
            summary="Report a space, replay, clip or account (DSA Art. 16); signed in or not",
            tag=t,
            body=NoticeIn,
            response=NoticeOut,
            status=201,
            errors=(400, 404, 429),
        ),
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
        op("GET", "/transparency", transparency_page, summary="Transparency report as a page with charts", tag=t),
        op(
            "GET",
            "/api/me/inbox",
            my_inbox,
            summary="Statements of reasons, decisions on my notices, appeal outcomes and warnings",
            tag=t,
            auth=me,
        ),
        op(
            "GET",
            "/api/me/statements/{statement_id}",
            my_statement,
            summary="One statement of reasons",
            tag=t,
            auth=me,
            errors=(401, 404),
        ),
        op(
            "GET",
            "/api/me/account-history",
            my_history,
            summary="My account's suspensions and reinstatements",
            tag=t,
            auth=me,
        ),
        op(
            "POST",
            "/api/decisions/{decision_id}/appeals",
            lodge_appeal,
            summary="Appeal a decision (Art. 20)",
            tag=t,
            body=AppealIn,
            response=AppealOut,
            auth=me,
            status=201,
            errors=(400, 401, 403, 404, 409, 410),
        ),
        op(
            "GET", f"{adm}/queue", queue, summary="Notices waiting, most urgent first", tag=t, auth=m, errors=(401, 403)
        ),
        op(
            "GET",
            f"{adm}/notices/{{notice_id}}",
            notice_detail,
            summary="One notice",
            tag=t,
            auth=m,
            errors=(401, 403, 404),
        ),
        op(
            "POST",
            f"{adm}/decisions",
            decide,
            summary="Decide: act on content or an account, or take no action",
            tag=t,
            body=DecisionIn,
            response=DecisionOut,
            auth=m,
            status=201,
            errors=(400, 401, 403, 404, 409),
        ),
        op("GET", f"{adm}/decisions", decisions, summary="Decisions of a period (?from=&to=)", tag=t, auth=m),
        op(
            "GET",
            f"{adm}/decisions/{{decision_id}}",
            decision_detail,
            summary="One decision with its statements",
            tag=t,
            auth=m,
            errors=(401, 403, 404),
        ),
        op(
            "GET",
            f"{adm}/decisions/{{decision_id}}/sor.json",
            sor_json,
            summary="The decision's statement in the Transparency Database format",
            tag=t,
            auth=m,
            errors=(401, 403, 404, 409),
        ),
        op(
            "GET",
            f"{adm}/sor-export",
            sor_export,
            summary="Statements of a period as NDJSON (?from=&to=)",
            tag=t,
            auth=m,
        ),
        op("GET", f"{adm}/withholdings", withholdings, summary="Withholdings in force", tag=t, auth=m),
        op("GET", f"{adm}/appeals", open_appeals, summary="Open appeals", tag=t, auth=m),
        op(
            "POST",
            f"{adm}/appeals/{{appeal_id}}/decision",
            decide_appeal,
            summary="Uphold or reverse, with reasons (a different moderator)",
            tag=t,
            body=AppealDecisionIn,
            response=AppealOut,
            auth=m,
            errors=(400, 401, 403, 404, 409),
        ),
        op(
            "GET",
            f"{adm}/accounts/{{account_id}}/history",
            account_history,
            summary="An account's status history",
            tag=t,
            auth=m,
            errors=(401, 403),
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
        Route("/admin", page("admin.html")),
    ]


class WithheldGate:
    """Country withholding for media: adds `X-Townhall-Withheld: <codes>` to responses under
    `/live/<space>/` and `/replay/<space>/` so the edge answers 451; answers 451 itself when the
    request (served without an edge) comes from a withheld country. Also sets the country header
    from GeoIP or strips it from untrusted peers when so configured."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trust: Trust | None = getattr(scope["app"].state.runtime, "trust", None)
        if trust is None:
            await self.app(scope, receive, send)
            return
        if trust.geo.rewrites:
            scope = _with_country(scope, trust.geo)
        path: str = scope.get("path", "")
        if not path.startswith(MEDIA_PREFIXES):
            await self.app(scope, receive, send)
            return
        space_id = path.split("/", 3)[2]
        held = await trust.withholdings.countries(space_id)
        if not held:
            await self.app(scope, receive, send)
            return
        header = trust.geo.header.encode()
        country = geo.clean(next((v.decode() for k, v in scope["headers"] if k == header), None))
        try:
            await trust.withholdings.check(space_id, country)
        except LegallyWithheld as exc:
            await error_response(451, exc.code, exc.message, **exc.details)(scope, receive, send)  # type: ignore[arg-type]
            return
        value = " ".join(sorted(held)).encode()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((WITHHELD_HEADER.lower().encode(), value))
            await send(message)

        await self.app(scope, receive, sending)


def _with_country(scope: Scope, lookup: geo.CountryLookup) -> Scope:
    header = lookup.header.encode()
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    peer = scope["client"][0] if scope.get("client") else ""
    country = lookup.country(headers, peer)
    kept = [(k, v) for k, v in scope["headers"] if k != header]
    if country:
        kept.append((header, country.encode()))
    return {**scope, "headers": kept}
