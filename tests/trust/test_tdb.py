"""Submitting statements to the Transparency Database: against a stand-in of its API (same routes,
bearer token, all-or-nothing batches, unique puid per platform, the shipped schema as its validator),
served by uvicorn on 127.0.0.1. Accepted ones keep their uuid; failures stay pending and are retried."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.api import live_space
from tests.trust.conftest import Clock, _app, _client, staff_maker, trust_settings
from tests.trust.support import ILLEGAL, decide
from townhall.trust import reasons

TOKEN = "tdb-test-token"


class FakeTdb:
    def __init__(self) -> None:
        self.stored: dict[str, str] = {}
        self.failures = 0
        self.calls: list[str] = []
        self.ids = itertools.count(1)
        self.url = ""

    def _refuse(self, request: Request) -> JSONResponse | None:
        self.calls.append(request.url.path)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"message": "Unauthenticated."}, status_code=401)
        if self.failures:
            self.failures -= 1
            return JSONResponse({"message": "Server Error"}, status_code=503)
        return None

    def _store(self, puid: str) -> str:
        self.stored[puid] = f"uuid-{next(self.ids)}"
        return self.stored[puid]

    async def many(self, request: Request) -> JSONResponse:
        refused = self._refuse(request)
        if refused:
            return refused
        statements = (await request.json())["statements"]
        errors = {
            f"statement_{i}": reasons.problems(s) or ["The identifier given is not unique within this platform."]
            for i, s in enumerate(statements)
            if reasons.problems(s) or s["puid"] in self.stored
        }
        if errors:
            return JSONResponse({"message": "invalid", "errors": errors}, status_code=422)
        return JSONResponse(
            {"statements": [{"puid": s["puid"], "uuid": self._store(s["puid"])} for s in statements]}, 201
        )

    async def one(self, request: Request) -> JSONResponse:
        refused = self._refuse(request)
        if refused:
            return refused
        statement = await request.json()
        if reasons.problems(statement):
            return JSONResponse({"message": "invalid", "errors": {"x": reasons.problems(statement)}}, status_code=422)
        if statement["puid"] in self.stored:
            body = {
                "message": "The identifier given is not unique within this platform.",
                "existing": {"uuid": self.stored[statement["puid"]], "puid": statement["puid"]},
            }
            return JSONResponse(body, status_code=422)
        return JSONResponse({"puid": statement["puid"], "uuid": self._store(statement["puid"])}, status_code=201)


@pytest.fixture
async def tdb() -> AsyncIterator[FakeTdb]:
    fake = FakeTdb()
    app = Starlette(
        routes=[
            Route("/api/v1/statements", fake.many, methods=["POST"]),
            Route("/api/v1/statement", fake.one, methods=["POST"]),
        ]
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and not task.done(), "the stand-in did not start"
        await asyncio.sleep(0.01)
    fake.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/api/v1"
    yield fake
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def _statements(application: Any) -> list[dict[str, Any]]:
    rt = application.state.runtime
    async with rt.db.connect() as conn:
        from townhall.store.sql.tables_trust import statements

        rows = (await conn.execute(statements.select().order_by(statements.c.created_at))).mappings().all()
    return [dict(r) for r in rows]


async def test_statements_are_submitted_once_retried_on_failure_and_an_old_puid_counts_as_done(
    tmp_path: Path, clock: Clock, tdb: FakeTdb
) -> None:
    settings = trust_settings(tmp_path, dsa_tdb_url=tdb.url, dsa_tdb_token=TOKEN, dsa_tdb_every_s=3600)
    async for application in _app(settings, clock):
        async with _client(application) as client:
            staff = staff_maker(client, application)
            moderator = await staff("moderator")
            made = []
            for _ in range(3):
                space = await live_space(client, await staff())
                made.append(await decide(client, moderator, action="end_space", target_kind="space",
                                         target_id=space["id"], **ILLEGAL))  # fmt: skip
            publisher = application.state.runtime.trust.tdb
            tdb.stored[made[1]["puid"]] = "uuid-from-an-earlier-timeout"
            assert await publisher.flush() == {"accepted": 3}
            rows = await _statements(application)
            assert [r["tdb_state"] for r in rows] == ["accepted"] * 3
            assert {r["tdb_uuid"] for r in rows} == set(tdb.stored.values())
            assert rows[1]["tdb_uuid"] == "uuid-from-an-earlier-timeout"
            calls = len(tdb.calls)
            assert not await publisher.flush() and len(tdb.calls) == calls  # nothing pending: no call

            tdb.failures = 1
            space = await live_space(client, await staff())
            late = await decide(client, moderator, action="end_space", target_kind="space", target_id=space["id"],
                                **ILLEGAL)  # fmt: skip
            assert await publisher.flush() == {"pending": 1}
            row = (await _statements(application))[-1]
            assert row["tdb_state"] == "pending" and row["tdb_attempts"] == 1 and row["tdb_last_error"] == "HTTP 503"
            assert await publisher.flush() == {"accepted": 1}
            assert (await _statements(application))[-1]["tdb_uuid"] == tdb.stored[late["puid"]]


async def test_the_running_server_submits_pending_statements_by_itself(
    tmp_path: Path, clock: Clock, tdb: FakeTdb
) -> None:
    settings = trust_settings(tmp_path, dsa_tdb_url=tdb.url, dsa_tdb_token=TOKEN, dsa_tdb_every_s=0.1)
    async for application in _app(settings, clock):
        async with _client(application) as client:
            staff = staff_maker(client, application)
            space = await live_space(client, await staff())
            made = await decide(client, await staff("moderator"), action="end_space", target_kind="space",
                                target_id=space["id"], **ILLEGAL)  # fmt: skip
            deadline = time.monotonic() + 10
            while made["puid"] not in tdb.stored:
                assert time.monotonic() < deadline, "the statement was never submitted"
                await asyncio.sleep(0.05)
