"""Clips cut from a live space and from its replay (remuxed from the original segments, never longer
than a minute), their plays counted once per viewer, and the area's HTTP errors and public keys."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import auth, register
from tests.support.wait import until
from townhall.services.remux import duration_s

pytestmark = pytest.mark.timeout(90)
UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}


@pytest.fixture
def backend() -> str:
    return "memory"


def _client(app: Any) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers=UA, timeout=30)


async def _space(c: httpx.AsyncClient, host: dict[str, Any], **fields: Any) -> str:
    r = await c.post("/api/spaces", json={"title": "clips", **fields}, headers=host["headers"])
    sid = str(r.json()["id"])
    assert (await c.post(f"/api/spaces/{sid}/start", headers=host["headers"])).status_code == 200
    return sid


async def test_clips_from_live_and_replay_are_trimmed_remuxes_of_the_original_segments(rec_app: Any) -> None:
    rt = rec_app.state.runtime
    async with _client(rec_app) as c:
        host = await register(c)
        sid = await _space(c, host)

        async def two_segments() -> bool:
            return len(await rt.recording.replay.links.links(sid)) >= 2

        await until(two_segments, 20, "two recorded segments")
        r = await c.post(
            f"/api/spaces/{sid}/clips", json={"duration_s": 3, "title": "live bit"}, headers=host["headers"]
        )
        assert r.status_code == 201, r.text
        live = r.json()
        assert live["source"] == "live" and live["page_url"].endswith(f"/c/{live['id']}")
        chained = {x.msn: x.sha256 for x, _ in await rt.recording.replay.links.links(sid)}
        assert all(chained[s["msn"]] == s["sha256"] for s in live["segments"])
        audio = await c.get(f"/replay/{sid}/clips/{live['id']}.m4a")
        assert audio.status_code == 200 and "immutable" in audio.headers["cache-control"]
        assert abs(duration_s(audio.content) - 3.0) < 0.1

        too_long = await c.post(f"/api/spaces/{sid}/clips", json={"duration_s": 61}, headers=host["headers"])
        assert too_long.status_code == 400 and too_long.json()["code"] == "invalid_clip_length"

        assert (await c.post(f"/api/spaces/{sid}/end", headers=host["headers"])).status_code == 200

        async def published() -> bool:
            return (await c.get(f"/api/spaces/{sid}/replay")).status_code == 200

        await until(published, 30, "the replay")
        r = await c.post(f"/api/spaces/{sid}/clips", json={"start_s": 1.0, "duration_s": 2.0}, headers=host["headers"])
        assert r.status_code == 201, r.text
        clip = r.json()
        assert clip["source"] == "replay" and clip["start_s"] == pytest.approx(1.0, abs=0.03)
        got = (await c.get(f"/api/clips/{clip['id']}")).json()
        assert got["space_url"].endswith(f"/s/{sid}") and got["counts"]["clip_plays"] == 0

        play = {
            "id": uuid.uuid4().hex,
            "type": "clip_play",
            "space_id": sid,
            "clip_id": clip["id"],
            "continuous_s": 2.5,
        }
        short = {**play, "id": uuid.uuid4().hex, "continuous_s": 1.0}
        again = {**play, "id": uuid.uuid4().hex}
        await c.post("/api/beacons", json={"device_id": "device-clip001", "events": [short, play, again]})
        counts = (await c.get(f"/api/clips/{clip['id']}")).json()["counts"]
        assert counts["clip_plays"] == 1 and counts["clip_unique_listeners"] == 1
        listed = (await c.get(f"/api/spaces/{sid}/clips")).json()["clips"]
        assert {x["id"] for x in listed} == {live["id"], clip["id"]}


async def test_no_clips_when_the_host_keeps_the_recording_private(rec_app: Any) -> None:
    async with _client(rec_app) as c:
        host = await register(c)
        sid = await _space(c, host, replay_public=False)
        r = await c.post(f"/api/spaces/{sid}/clips", json={"duration_s": 5}, headers=host["headers"])
        assert r.status_code == 403 and r.json()["code"] == "clips_not_allowed"
        anonymous = await c.post(f"/api/spaces/{sid}/clips", json={"duration_s": 5})
        assert anonymous.status_code == 401


async def test_public_keys_are_served_at_the_well_known_url(rec_app: Any) -> None:
    async with _client(rec_app) as c:
        r = await c.get("/.well-known/townhall/replay-keys.json")
    keys = r.json()["keys"]
    assert r.status_code == 200 and keys[0]["kty"] == "OKP" and keys[0]["crv"] == "Ed25519"
    assert keys[-1]["status"] == "active" and "d" not in keys[-1]


async def test_rotation_keeps_the_old_key_published(rec_app: Any) -> None:
    keys = rec_app.state.runtime.recording.keys
    old = keys.signing.kid
    keys.rotate(0.0)
    async with _client(rec_app) as c:
        listed = {k["kid"]: k["status"] for k in (await c.get("/.well-known/townhall/replay-keys.json")).json()["keys"]}
    assert listed[old] == "retired" and listed[keys.signing.kid] == "active"


MISSING = [
    ("/replay/nosuchspace/index.m3u8", "replay_not_found"),
    ("/replay/nosuchspace/clips/abcdefgh.m4a", "clip_not_found"),
    ("/api/spaces/nosuchspace/chain", "no_chain"),
    ("/api/clips/nosuchclip", "clip_not_found"),
    ("/api/spaces/nosuchspace/counts", "space_not_found"),
]


async def test_missing_things_are_json_404s(rec_app: Any) -> None:
    async with _client(rec_app) as c:
        for path, code in MISSING:
            r = await c.get(path)
            assert (r.status_code, r.json()["code"]) == (404, code), path


async def test_malformed_beacons_are_400s(rec_app: Any) -> None:
    async with _client(rec_app) as c:
        bad_id = await c.post("/api/beacons", json={"events": [{"id": "x", "type": "impression", "space_id": "abcd"}]})
        bad_type = await c.post(
            "/api/beacons", json={"events": [{"id": "abcdefgh", "type": "nope", "space_id": "abcd"}]}
        )
        not_json = await c.post("/api/beacons", content=b"{", headers={"content-type": "application/json"})
        bad_token = await c.post("/api/beacons", json={"events": []}, headers=auth("v1.a.b.c.d.e.f.g"))
    assert bad_id.status_code == bad_type.status_code == not_json.status_code == 400
    assert bad_token.status_code == 401


def test_rotate_replay_key_verb_adds_a_key(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from townhall.cli import main

    assert main(["rotate-replay-key", "--data-dir", str(tmp_path)]) == 0
    assert main(["rotate-replay-key", "--data-dir", str(tmp_path)]) == 0
    ring = json.loads((tmp_path / "replay-keys.json").read_text())["keys"]
    assert len(ring) == 3  # the first run made one, each rotation added one
    assert oct((tmp_path / "replay-keys.json").stat().st_mode)[-3:] == "600"
    assert "earlier key(s) stay published" in capsys.readouterr().out


async def test_fuzzed_clip_requests_are_refused_cleanly(rec_app: Any) -> None:
    """Issue 14's fuzzing: a vanishing duration was a 500, an endless start would overflow, and a listener
    token of another space cut a clip that was then public under that space's replay."""
    rt = rec_app.state.runtime
    async with _client(rec_app) as c:
        host = await register(c)
        sid = await _space(c, host)
        other = await _space(c, host)

        async def two_segments() -> bool:
            return len(await rt.recording.replay.links.links(sid)) >= 2

        await until(two_segments, 20, "two recorded segments")
        for body, code in [
            ({"duration_s": 2.2e-308}, "invalid_clip_length"),
            ({"duration_s": 0.01}, "invalid_clip_length"),
            ({"duration_s": 2, "start_s": 1e308}, "invalid_body"),
        ]:
            r = await c.post(f"/api/spaces/{sid}/clips", json=body, headers=host["headers"])
            assert r.status_code == 400 and r.json()["code"] == code, (body, r.text)
        for raw in (b'{"duration_s": NaN}', b'{"duration_s": 2, "start_s": Infinity}'):
            r = await c.post(f"/api/spaces/{sid}/clips", content=raw, headers=host["headers"])
            assert r.status_code == 400 and r.json()["code"] == "invalid_body", r.text

        joined = await c.post(f"/api/spaces/{other}/join", json={"device_id": "device-of-other"})
        assert joined.status_code == 200, joined.text
        r = await c.post(f"/api/spaces/{sid}/clips", json={"duration_s": 2}, headers=auth(joined.json()["token"]))
        assert r.status_code == 403 and r.json()["code"] == "token_wrong_space", r.text
        assert (await c.get(f"/api/spaces/{sid}/clips")).json()["clips"] == []
