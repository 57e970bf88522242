"""The replay page in real Chromium: it plays the published replay with a working seek bar and shows that
the replay verifies (signature, hash chain, the bytes of every segment it plays); a changed segment is named
as changed, and the page stops rather than play it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.support import Browsers, until
from tests.support.servers import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(90)]

CHECKED = re.compile(r"(\d+) of (\d+) segments checked byte for byte")

# The distinct segments the page's player fetched (hls.js loads them with XMLHttpRequest; the page's own
# "check every segment" fetches are not counted).
PLAYER_SEGMENTS_JS = """
Array.from(new Set(performance.getEntriesByType("resource")
  .filter((e) => e.initiatorType === "xmlhttprequest" && /\\/s\\d+\\.m4s$/.test(new URL(e.name).pathname))
  .map((e) => new URL(e.name).pathname.split("/").pop())))
"""


async def recorded_space(server: LiveServer, segments: int) -> tuple[Any, dict[str, Any]]:
    """A space that was live until `segments` segments were recorded, ended, with its replay published."""
    rt = server.runtime
    host = (await rt.accounts.register("replay_host", "password-host", "127.0.0.1")).account
    space = await rt.spaces.start(host, (await rt.spaces.create(host, "Worth replaying", None, None)).id)
    async with server.client() as http:

        async def recorded() -> bool:
            r = await http.get(f"/api/spaces/{space.id}/chain")
            return r.status_code == 200 and r.json()["msn"] >= segments - 1

        await until(recorded, 30, f"{segments} segments recorded")
        await rt.spaces.end(host, space.id)

        async def published() -> dict[str, Any] | None:
            r = await http.get(f"/api/spaces/{space.id}/replay")
            return r.json() if r.status_code == 200 else None

        return space, await until(published, 30, "the replay published")


async def checked_count(page: Any) -> int:
    """How many segments the page says it checked byte for byte (0 when it says none)."""
    found = CHECKED.search(await page.locator("#verify").text_content() or "")
    return int(found.group(1)) if found else 0


def hls_exceptions(chromium: Browsers) -> list[str]:
    return [line for line in chromium.console if "internalException" in line]


async def test_replay_page_plays_seeks_and_verifies_and_names_a_changed_segment(
    server: LiveServer, chromium: Browsers
) -> None:
    space, info = await recorded_space(server, segments=4)
    browser = await chromium.launch()
    page = await chromium.page("replay", browser, f"{server.url}/r/{space.id}")

    verdict = page.locator("#verify[data-verified='true']")
    await verdict.wait_for(timeout=15_000)
    assert "hash chain intact over" in (await verdict.text_content() or "")

    await page.click("#play")
    await until(lambda: page.evaluate("document.querySelector('#audio').currentTime > 0.3"), 10, "playback")
    before = await page.evaluate("document.querySelector('#audio').currentTime")
    await page.focus("#seek")
    await page.keyboard.press("ArrowRight")
    await until(
        lambda: page.evaluate(f"document.querySelector('#audio').currentTime >= {before + 4}"), 5, "a seek forward"
    )
    await until(lambda: checked_count(page), 5, "at least one played segment checked byte for byte")

    async with server.client() as http:
        second = (await http.get(info["manifest_url"])).json()["payload"]["segments"][1]
    path = server.runtime.blobs.local_path(f"live/{space.id}/{second['uri']}")
    path.write_bytes(path.read_bytes()[:-16] + b"\0" * 16)
    tampered = await chromium.page("tampered", browser, f"{server.url}/r/{space.id}")
    await tampered.locator("#check-all:not([hidden])").wait_for(timeout=15_000)
    await tampered.click("#check-all")
    await tampered.locator("#verify[data-verified='false']").wait_for(timeout=15_000)
    problems = await tampered.locator("#problems").text_content() or ""
    assert f"segment {second['msn']} ({second['uri']}) was changed" in problems


async def test_replay_page_checks_every_segment_it_plays_without_player_errors(
    server: LiveServer, chromium: Browsers
) -> None:
    space, info = await recorded_space(server, segments=4)
    async with server.client() as http:
        segments = (await http.get(info["manifest_url"])).json()["payload"]["segments"]
    page = await chromium.page("replay", await chromium.launch(), f"{server.url}/r/{space.id}")
    await page.locator("#verify[data-verified='true']").wait_for(timeout=15_000)
    await page.click("#play")
    await until(lambda: page.evaluate("document.querySelector('#audio').ended"), 40, "the replay played to its end")

    played = await page.evaluate(PLAYER_SEGMENTS_JS)
    assert sorted(played) == sorted(s["uri"] for s in segments)
    await until(lambda: checked_count(page), 5, "the played segments counted as checked")
    assert await checked_count(page) == len(played) > 0, await page.locator("#verify").text_content()
    assert await page.get_attribute("#verify", "data-verified") == "true"
    assert not hls_exceptions(chromium), hls_exceptions(chromium)


async def test_replay_page_stops_before_playing_a_changed_segment(server: LiveServer, chromium: Browsers) -> None:
    space, info = await recorded_space(server, segments=4)
    async with server.client() as http:
        segments = (await http.get(info["manifest_url"])).json()["payload"]["segments"]
    changed = segments[2]
    path = server.runtime.blobs.local_path(f"live/{space.id}/{changed['uri']}")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    starts_at_s = sum(s["duration"] for s in segments[:2]) / 48_000

    page = await chromium.page("tampered", await chromium.launch(), f"{server.url}/r/{space.id}")
    # forced: the page may already have found the change while buffering ahead, and disabled Play
    await page.click("#play", force=True)
    await page.locator("#verify[data-verified='false']").wait_for(timeout=20_000)
    problems = await page.locator("#problems").text_content() or ""
    assert f"segment {changed['msn']} ({changed['uri']}) was changed" in problems
    assert "stopped" in (await page.locator("#status").text_content() or "")
    assert await page.locator("#play").is_disabled()
    state = await page.evaluate(
        "(() => { const a = document.querySelector('#audio'); const b = a.buffered;"
        " return { paused: a.paused, time: a.currentTime, end: b.length ? b.end(b.length - 1) : 0 }; })()"
    )
    assert state["paused"], state
    assert state["end"] <= starts_at_s + 0.05, f"the changed segment reached the player: {state}"
    assert state["time"] <= starts_at_s, state


async def test_clip_page_plays_the_clip_and_verifies_it_against_the_signed_replay(
    server: LiveServer, chromium: Browsers
) -> None:
    space, _ = await recorded_space(server, segments=2)
    rt = server.runtime
    signed = await rt.accounts.login("replay_host", "password-host", "127.0.0.1")
    async with server.client() as http:
        r = await http.post(
            f"/api/spaces/{space.id}/clips",
            json={"duration_s": 2, "start_s": 0, "title": "The best bit"},
            headers={"Authorization": f"Bearer {signed.session_token}"},
        )
        assert r.status_code == 201, r.text
        clip = r.json()
    page = await chromium.page("clip", await chromium.launch(), clip["page_url"])
    verdict = page.locator("#verify[data-verified='true']")
    await verdict.wait_for(timeout=15_000)
    assert "signed hash chain" in (await verdict.text_content() or "")
    assert await page.locator("#title").text_content() == "The best bit"
    await page.click("#play")
    await until(lambda: page.evaluate("document.querySelector('#audio').currentTime > 0.3"), 10, "the clip playing")


async def test_replay_page_says_why_there_is_no_replay(server: LiveServer, chromium: Browsers) -> None:
    rt = server.runtime
    host = (await rt.accounts.register("no_replay_host", "password-host", "127.0.0.1")).account
    unrecorded = await rt.spaces.create(host, "Off the record", None, None, recording=False)
    live = await rt.spaces.start(host, (await rt.spaces.create(host, "Still going", None, None)).id)
    browser = await chromium.launch()
    page = await chromium.page("unrecorded", browser, f"{server.url}/r/{unrecorded.id}")
    await page.locator("#status", has_text="was not recorded").wait_for(timeout=10_000)
    page = await chromium.page("still-live", browser, f"{server.url}/r/{live.id}")
    await page.locator("#status", has_text="has not ended yet").wait_for(timeout=10_000)
    assert await page.locator("#status a", has_text="Listen live").get_attribute("href") == f"/s/{live.id}"
