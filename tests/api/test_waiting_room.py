"""The waiting room over HTTP (decision 0010): a signed ticket polled with a cheap "where am I" call,
a place that survives a refresh (the ticket) and is held 5 minutes after the last poll, arrivals before
the start drawn at the start, the space's two settings, and the "under attack" proof of work with its
decoy queue for clients that fail it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_KEYS
from tests.support.api import auth, join, live_space, register
from townhall.domain import proof
from townhall.domain.admission import BURST_S
from townhall.settings import Settings

BITS = 10  # the tests' difficulty: about a thousand hashes


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def wapp(tmp_path: Path, clock: Clock, migrated_sqlite: Path) -> AsyncIterator[Any]:
    import shutil

    from townhall.app import build_app, build_runtime

    (tmp_path / "data").mkdir()
    shutil.copyfile(migrated_sqlite, tmp_path / "data" / "townhall.db")
    settings = Settings(
        data_dir=tmp_path / "data",
        token_keys=TEST_KEYS,
        log_level="warning",
        password_hash_time_cost=1,
        password_hash_memory_kib=1024,
        pow_difficulty_bits=BITS,
    )
    application = build_app(runtime=build_runtime(settings, clock=clock))
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def wc(wapp: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=wapp, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=10) as c:
        yield c


async def where(client: httpx.AsyncClient, sid: str, ticket: str) -> httpx.Response:
    return await client.post(f"/api/spaces/{sid}/queue", headers=auth(ticket))


async def test_a_place_is_polled_with_its_ticket_and_survives_a_refresh(wc: httpx.AsyncClient) -> None:
    host = await register(wc)
    sid = (await live_space(wc, host, listener_cap=1))["id"]
    first = (await join(wc, sid, "device-first01")).json()
    waiting = await join(wc, sid, "device-second1")
    assert waiting.status_code == 202
    body = waiting.json()
    assert body["position"] == 1 and body["ticket"] and body["poll_after_s"] > 0
    await join(wc, sid, "device-third01")
    # a refreshed page has only its ticket: the poll is not a join (no device, no body) and keeps the place
    for _ in range(3):
        again = await where(wc, sid, body["ticket"])
        assert again.status_code == 202 and again.json()["position"] == 1
    await wc.delete(f"/api/spaces/{sid}/lease", headers=auth(first["token"]))
    admitted = await where(wc, sid, body["ticket"])
    assert admitted.status_code == 200 and admitted.json()["status"] == "admitted" and admitted.json()["token"]


async def test_a_place_is_held_five_minutes_after_the_last_poll(wc: httpx.AsyncClient, clock: Clock) -> None:
    host = await register(wc)
    sid = (await live_space(wc, host, listener_cap=1))["id"]
    seated = (await join(wc, sid, "device-seated1")).json()["token"]
    ticket = (await join(wc, sid, "device-waits01")).json()["ticket"]
    behind = (await join(wc, sid, "device-behind1")).json()["ticket"]

    async def idle(seconds: float) -> None:  # the seated listener renews; nobody waiting polls
        nonlocal seated
        while seconds > 0:
            clock.now += min(40.0, seconds)
            seconds -= 40.0
            renewed = await wc.post(f"/api/spaces/{sid}/lease", headers=auth(seated))
            assert renewed.status_code == 200
            seated = renewed.json()["token"]  # tokens are short-lived: each renewal gives the next

    await idle(299)
    assert (await where(wc, sid, ticket)).json()["position"] == 1
    assert (await where(wc, sid, behind)).json()["position"] == 2
    await idle(290)
    assert (await where(wc, sid, behind)).json()["position"] == 2
    await idle(20)  # 310 s since the first one's last poll: its place lapsed, and it joins at the back
    assert (await where(wc, sid, behind)).json()["position"] == 1
    assert (await where(wc, sid, ticket)).json()["position"] == 2


async def test_a_ticket_is_bound_to_its_space_and_signed(wc: httpx.AsyncClient) -> None:
    host = await register(wc)
    a = (await live_space(wc, host, listener_cap=1))["id"]
    b = (await live_space(wc, host, listener_cap=1))["id"]
    await join(wc, a)
    ticket = (await join(wc, a)).json()["ticket"]
    r = await where(wc, b, ticket)
    assert r.status_code == 403 and r.json()["code"] == "token_wrong_space"
    r = await where(wc, a, ticket[:-2] + ("00" if not ticket.endswith("00") else "11"))
    assert r.status_code == 401 and r.json()["code"] == "token_bad_signature"
    token = (await join(wc, b)).json()["token"]  # a listener token is not a ticket
    r = await where(wc, b, token)
    assert r.status_code == 403 and r.json()["code"] == "token_wrong_scope"


async def test_arrivals_before_the_start_are_drawn_at_the_start(wc: httpx.AsyncClient) -> None:
    host = await register(wc)
    r = await wc.post("/api/spaces", json={"title": "Soon", "listener_cap": 2}, headers=host["headers"])
    sid = r.json()["id"]
    tickets = []
    for i in range(8):
        early = await join(wc, sid, f"device-early{i:02d}")
        assert early.status_code == 202 and early.json()["position"] == 0
        tickets.append(early.json()["ticket"])
    assert (await wc.post(f"/api/spaces/{sid}/start", headers=host["headers"])).status_code == 200
    answers = [await where(wc, sid, t) for t in tickets]
    admitted = [i for i, a in enumerate(answers) if a.status_code == 200]
    positions = sorted(a.json()["position"] for a in answers if a.status_code == 202)
    assert len(admitted) == 2 and positions == [1, 2, 3, 4, 5, 6]
    late = await join(wc, sid, "device-late0001")
    assert late.json()["position"] == 7  # after the draw, first in first out


async def test_the_two_settings_are_set_on_create_and_update(wc: httpx.AsyncClient) -> None:
    host = await register(wc)
    body = {"title": "Paced", "listener_cap": 100, "admissions_per_minute": 120}
    space = (await wc.post("/api/spaces", json=body, headers=host["headers"])).json()
    assert space["listener_cap"] == 100 and space["admissions_per_minute"] == 120
    sid = space["id"]
    r = await wc.put(f"/api/spaces/{sid}/cap", json={"listener_cap": 50}, headers=host["headers"])
    assert r.json()["listener_cap"] == 50 and r.json()["admissions_per_minute"] == 120  # the pace is kept
    r = await wc.put(
        f"/api/spaces/{sid}/cap", json={"listener_cap": 50, "admissions_per_minute": 30}, headers=host["headers"]
    )
    assert r.json()["admissions_per_minute"] == 30
    r = await wc.put(f"/api/spaces/{sid}/cap", json={"admissions_per_minute": 0}, headers=host["headers"])
    assert r.status_code == 400
    default = (await wc.post("/api/spaces", json={"title": "Default"}, headers=host["headers"])).json()
    assert default["admissions_per_minute"] == Settings().admissions_per_minute_default
    assert Settings().wait_ticket_ttl_s >= 300


async def test_the_pace_admits_no_more_than_the_setting(wc: httpx.AsyncClient, clock: Clock) -> None:
    host = await register(wc)
    body = {"title": "Paced", "admissions_per_minute": 60}
    sid = (await wc.post("/api/spaces", json=body, headers=host["headers"])).json()["id"]
    await wc.post(f"/api/spaces/{sid}/start", headers=host["headers"])
    answers = [await join(wc, sid, f"device-pace{i:03d}") for i in range(20)]
    saved = 1 + int(BURST_S)  # the first, and the saved-up seconds' worth at 60 a minute
    assert sum(a.status_code == 200 for a in answers) == saved  # then one a second
    tickets = [a.json()["ticket"] for a in answers if a.status_code == 202]
    admitted = 0
    for _ in range(5):  # one a second while the line is polled
        clock.now += 1
        polled = [await where(wc, sid, t) for t in tickets]
        admitted += sum(p.status_code == 200 for p in polled)
        tickets = [t for t, p in zip(tickets, polled, strict=True) if p.status_code == 202]
    assert admitted == 5
    clock.now += 30  # idle: at most the saved-up seconds' worth, however long nobody called
    polled = [await where(wc, sid, t) for t in tickets]
    assert sum(p.status_code == 200 for p in polled) == saved


async def _admin(app: Any, client: httpx.AsyncClient) -> dict[str, Any]:
    person = await register(client)
    await app.state.runtime.accounts.grant(person["account_id"], "admin")
    return person


async def test_under_attack_joins_need_a_proof_of_work_and_failures_see_a_decoy_queue(
    wc: httpx.AsyncClient, wapp: Any
) -> None:
    host = await register(wc)
    sid = (await live_space(wc, host, listener_cap=1000))["id"]
    open_challenge = (await wc.post(f"/api/spaces/{sid}/challenge")).json()
    assert open_challenge["difficulty"] == 0
    admin = await _admin(wapp, wc)
    r = await wc.post(f"/api/admin/spaces/{sid}/under-attack", json={"on": True}, headers=host["headers"])
    assert r.status_code == 403  # only an admin
    r = await wc.post(f"/api/admin/spaces/{sid}/under-attack", json={"on": True}, headers=admin["headers"])
    assert r.status_code == 200 and r.json()["under_attack"] is True
    wapp.state.runtime.spaces.forget(sid)

    # no proof: the same shape as a real place in line, with a ticket, and seats are free but never given
    bare = await join(wc, sid, "device-noproof")
    assert bare.status_code == 202 and set(bare.json()) == {"status", "position", "ticket", "poll_after_s"}
    for _ in range(3):
        polled = await where(wc, sid, bare.json()["ticket"])
        assert polled.status_code == 202 and polled.json()["position"] >= 1

    c = (await wc.post(f"/api/spaces/{sid}/challenge")).json()
    assert c["difficulty"] == BITS
    nonce = proof.solve(c["challenge"], c["difficulty"])
    wrong = await wc.post(
        f"/api/spaces/{sid}/join",
        json={"device_id": "device-wrong01", "proof": {"challenge": c["challenge"], "nonce": nonce + "x"}},
    )
    solved = {"challenge": c["challenge"], "nonce": nonce}
    good = await wc.post(f"/api/spaces/{sid}/join", json={"device_id": "device-solved1", "proof": solved})
    replayed = await wc.post(f"/api/spaces/{sid}/join", json={"device_id": "device-replay1", "proof": solved})
    assert good.status_code == 200 and good.json()["token"]
    for failed in (wrong, replayed):  # an invalid or replayed solution: the decoy, the same shape
        assert failed.status_code == 202 and set(failed.json()) == set(bare.json())

    entries = (await wc.get("/api/admin/audit", headers=admin["headers"])).json()["entries"]
    assert any(e["action"] == "space.under_attack.on" for e in entries)
