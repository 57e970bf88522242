"""Fixtures for trust and safety: the app on either database backend with a clock the test can move,
and staff accounts (moderators, an admin) made through the same service `townhall grant` uses."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_KEYS
from tests.support.api import auth
from townhall.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def trust_settings(tmp_path: Path, database_url: str = "", **extra: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", token_keys=TEST_KEYS, log_level="warning", database_url=database_url, **extra
    )


async def _app(settings: Settings, clock: Clock) -> AsyncIterator[Any]:
    from townhall.app import build_app, build_runtime

    application = build_app(runtime=build_runtime(settings, clock=clock))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def trust_app(tmp_path: Path, clock: Clock) -> AsyncIterator[Any]:
    """The app on SQLite (the embedded default)."""
    async for application in _app(trust_settings(tmp_path), clock):
        yield application


@pytest.fixture
async def both_app(tmp_path: Path, clock: Clock, database_url: str) -> AsyncIterator[Any]:
    """The app on SQLite and on PostgreSQL (parametrised by `database_url`)."""
    async for application in _app(trust_settings(tmp_path, database_url), clock):
        yield application


def _client(application: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10)


@pytest.fixture
async def tc(trust_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(trust_app) as c:
        yield c


@pytest.fixture
async def bc(both_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(both_app) as c:
        yield c


Staff = Callable[..., Coroutine[Any, Any, dict[str, Any]]]
_handles = itertools.count()


def staff_maker(client: httpx.AsyncClient, application: Any) -> Staff:
    """Accounts with a session and the given platform roles, made without password hashing (which
    `tests/api` covers) so these tests stay fast; `staff()` with no role is an ordinary account."""

    async def make(*roles: str) -> dict[str, Any]:
        rt = application.state.runtime
        handle = f"t{next(_handles)}_{rt.ctx.make_id()[:6].lower().replace('-', '_')}"
        account = await rt.accounts.accounts.create(rt.ctx.make_id(), handle, "no-password", rt.clock())
        for role in roles:
            await rt.accounts.grant(account.id, role)
        signed = await rt.accounts._new_session(account)
        return {"account_id": account.id, "handle": handle, "headers": auth(signed.session_token)}

    return make


@pytest.fixture
def staff(tc: httpx.AsyncClient, trust_app: Any) -> Staff:
    return staff_maker(tc, trust_app)


@pytest.fixture
def both_staff(bc: httpx.AsyncClient, both_app: Any) -> Staff:
    return staff_maker(bc, both_app)
