"""The replay page in real Chromium: it plays the published replay with a working seek bar and shows that
the replay verifies (signature, hash chain, bytes as played); a changed segment is named as changed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.support import Browsers, until
from tests.support.servers import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(90)]


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
    await until(lambda: page.locator("#verify", has_text="segments checked").text_content(), 5, "checks as played")

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
