"""Accounts endpoints: register, log in, log out, who am I, public profile."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from townhall.api.http import bearer, client_address, ok, op, read_json
from townhall.api.runtime import runtime_of
from townhall.api.schemas import AccountOut, Credentials, SessionOut
from townhall.domain.accounts import Account, AccountStatus
from townhall.services.accounts import SignedIn


def account_out(account: Account, now: float, private: bool = False) -> dict[str, object]:
    """The account as shown; a suspension whose period has passed shows as active (it ended by itself)."""
    suspended = account.suspended(now)
    out = AccountOut(
        id=account.id,
        handle=account.handle,
        status=(AccountStatus.SUSPENDED if suspended else AccountStatus.ACTIVE).value,
        suspended_until=account.suspended_until if suspended else None,
        platform_roles=sorted(r.value for r in account.platform_roles) if private else [],
    )
    return out.model_dump()


def session_out(signed: SignedIn) -> dict[str, object]:
    return SessionOut(
        account_id=signed.account.id,
        handle=signed.account.handle,
        session_token=signed.session_token,
        expires_at=signed.expires_at,
    ).model_dump()


async def current_account(request: Request) -> Account:
    account: Account = await runtime_of(request).accounts.authenticate(bearer(request))
    return account


async def register(request: Request) -> Response:
    body = await read_json(request, Credentials)
    signed = await runtime_of(request).accounts.register(body.handle, body.password, client_address(request))
    return ok(session_out(signed), status=201)


async def login(request: Request) -> Response:
    body = await read_json(request, Credentials)
    signed = await runtime_of(request).accounts.login(body.handle, body.password, client_address(request))
    return ok(session_out(signed))


async def logout(request: Request) -> Response:
    await current_account(request)
    await runtime_of(request).accounts.logout(bearer(request) or "")
    return Response(status_code=204)


async def me(request: Request) -> Response:
    return ok(account_out(await current_account(request), runtime_of(request).clock(), private=True))


async def profile(request: Request) -> Response:
    rt = runtime_of(request)
    account = await rt.accounts.by_handle(request.path_params["handle"])
    return ok(account_out(account, rt.clock()))


def routes() -> list[Route]:
    tag = "accounts"
    return [
        op(
            "POST",
            "/api/accounts",
            register,
            summary="Register an account and start a session",
            tag=tag,
            body=Credentials,
            response=SessionOut,
            status=201,
            errors=(400, 409, 429),
        ),
        op(
            "POST",
            "/api/sessions",
            login,
            summary="Sign in",
            tag=tag,
            body=Credentials,
            response=SessionOut,
            errors=(400, 401, 429),
        ),
        op("DELETE", "/api/sessions/current", logout, summary="Sign out", tag=tag, auth="session", status=204),
        op("GET", "/api/me", me, summary="The signed-in account", tag=tag, response=AccountOut, auth="session"),
        op(
            "GET",
            "/api/accounts/{handle}",
            profile,
            summary="A public profile",
            tag=tag,
            response=AccountOut,
            errors=(404,),
        ),
    ]
