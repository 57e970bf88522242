"""Trust and safety endpoints (EU DSA): notices from anyone, the moderators' queue and decisions,
statements of reasons (inbox, one by one, bulk), appeals, account history, authority orders, the audit
log and the transparency report; plus the middleware that withholds live and replay media by country.
"""

from __future__ import annotations

import json

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townhall.api.accounts import current_account
from townhall.api.errors import error_response
from townhall.api.http import bearer, client_address, ok, op, read_json
from townhall.api.runtime import runtime_of
from townhall.api.trust import records as trust_records
from townhall.api.trust.common import (
    Trust,
    appeal_out,
    decision_out,
    limit_of,
    notice_out,
    period_of,
    proposal_of,
    record_out,
    statement_out,
    trust_of,
)
from townhall.api.trust.schemas import (
    AppealDecisionIn,
    AppealIn,
    AppealOut,
    DecisionIn,
    DecisionOut,
    NoticeIn,
    NoticeOut,
)
from townhall.api.web import page
from townhall.domain.accounts import PlatformRole
from townhall.domain.errors import Conflict, Invalid, LegallyWithheld, NotFound
from townhall.domain.moderation import ActionKind, Decision
from townhall.domain.notices import Notice, NoticeState, SourceKind
from townhall.services.trust.reports import period, tdb_statements
from townhall.services.trust.staff import require
from townhall.trust import geo

MEDIA_PREFIXES = ("/live/", "/replay/")
WITHHELD_HEADER = "X-Townhall-Withheld"


# --- notices (anyone) -------------------------------------------------------------------------------
async def submit_notice(request: Request) -> Response:
    t = trust_of(request)
    body = await read_json(request, NoticeIn)
    session = bearer(request)
    reporter = await current_account(request) if session else None
    key = t.notices.reporter_key(reporter, client_address(request))
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
    notice = await t.notices.submit(draft, items, reporter)
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
    ranked = await trust_of(request).notices.queue(moderator, limit_of(request))
    return ok({"notices": [notice_out(n, p) for p, n in ranked]})


async def notice_detail(request: Request) -> Response:
    moderator = await current_account(request)
    notice = await trust_of(request).notices.get(moderator, request.path_params["notice_id"])
    return ok(notice_out(notice))


async def decide(request: Request) -> Response:
    moderator = await current_account(request)
    body = await read_json(request, DecisionIn)
    if not body.target_kind or not body.target_id:
        raise Invalid("target_required", "name the target: target_kind and target_id")
    proposal = proposal_of(body, body.target_kind, body.target_id)
    done = await trust_of(request).moderation.decide(moderator, proposal, body.notice_ids)
    return ok(decision_out(done.decision, done.statement_id), status=201)


async def _moderator_decision(request: Request) -> Decision:
    require(await current_account(request), PlatformRole.MODERATOR)
    return await trust_of(request).moderation.decision(request.path_params["decision_id"])


async def decisions(request: Request) -> Response:
    require(await current_account(request), PlatformRole.MODERATOR)
    start, end = period(*period_of(request))
    found = await trust_of(request).stores.decisions.between(start, end, limit_of(request, 100))
    return ok({"decisions": [decision_out(d) for d in found]})


async def decision_detail(request: Request) -> Response:
    decision = await _moderator_decision(request)
    found = await trust_of(request).stores.statements.of_decision(decision.id)
    return ok({**decision_out(decision), "statements": [statement_out(s) for s in found]})


async def sor_json(request: Request) -> Response:
    decision = await _moderator_decision(request)
    for statement in await trust_of(request).stores.statements.of_decision(decision.id):
        if statement.tdb_payload:
            return ok(json.loads(statement.tdb_payload))
    raise Conflict("not_for_tdb", "this decision has no Transparency Database statement (no action, order, reversal)")


async def sor_export(request: Request) -> Response:
    require(await current_account(request), PlatformRole.MODERATOR)
    start, end = period_of(request)
    lines = [
        json.dumps(s, separators=(",", ":")) + "\n"
        for s in await tdb_statements(trust_of(request).stores.statements, start, end)
    ]
    return Response("".join(lines), media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})


async def withholdings(request: Request) -> Response:
    require(await current_account(request), PlatformRole.MODERATOR)
    t = trust_of(request)
    found = await t.stores.restrictions.active(ActionKind.WITHHOLD, runtime_of(request).clock())
    return ok({"withholdings": [record_out(r) for r in found]})


# --- the affected account ---------------------------------------------------------------------------
async def my_inbox(request: Request) -> Response:
    account = await current_account(request)
    found = await trust_of(request).stores.inbox.of_account(account.id, limit_of(request))
    return ok({"messages": [record_out(e) for e in found]})


async def my_statement(request: Request) -> Response:
    account = await current_account(request)
    found = await trust_of(request).stores.statements.get(request.path_params["statement_id"])
    if found is None or (found.recipient_account_id != account.id and not account.has_role(PlatformRole.MODERATOR)):
        raise NotFound("statement_not_found", "no such statement of reasons")
    return ok(statement_out(found))


async def my_history(request: Request) -> Response:
    account = await current_account(request)
    return ok({"history": await trust_of(request).appeals.history(account, account.id)})


async def account_history(request: Request) -> Response:
    viewer = await current_account(request)
    return ok({"history": await trust_of(request).appeals.history(viewer, request.path_params["account_id"])})


# --- appeals ----------------------------------------------------------------------------------------
async def lodge_appeal(request: Request) -> Response:
    account = await current_account(request)
    body = await read_json(request, AppealIn)
    appeal = await trust_of(request).appeals.lodge(account, request.path_params["decision_id"], body.text)
    return ok(appeal_out(appeal), status=201)


async def open_appeals(request: Request) -> Response:
    moderator = await current_account(request)
    found = await trust_of(request).appeals.open_appeals(moderator, limit_of(request))
    return ok({"appeals": [appeal_out(a) for a in found]})


async def decide_appeal(request: Request) -> Response:
    reviewer = await current_account(request)
    body = await read_json(request, AppealDecisionIn)
    appeal, done = await trust_of(request).appeals.decide(
        reviewer, request.path_params["appeal_id"], body.outcome, body.reasons, body.manifestly_unfounded
    )
    out = appeal_out(appeal)
    out["reversal"] = decision_out(done.decision, done.statement_id) if done else None
    return ok(out)


def routes() -> list[BaseRoute]:
    t, m, me = "trust", "moderator session", "session"
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
            errors=(400, 401, 404, 429),
        ),
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
            summary="Statements of a period as NDJSON (?from=YYYY-MM-DD&to=YYYY-MM-DD, UTC days, both "
            "included; default: from 1 January of this year to today); 400 invalid_period for any other spelling",
            errors=(400, 401, 403),
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
        Route("/admin", page("admin.html")),
        *trust_records.routes(),
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
        trust: Trust = runtime_of(HTTPConnection(scope)).trust
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
                header = (WITHHELD_HEADER.lower().encode(), value)
                message = {**message, "headers": [*message.get("headers", ()), header]}  # never grow a shared list
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
