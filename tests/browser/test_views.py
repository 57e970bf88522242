"""The pages count views in real Chromium: a card counts when at least half of it is on screen for a
continuous second (not unique: seen again, it counts again), cards below the fold do not count, embeds are
counted apart, views are never listens; the clip page counts a play after 2 continuous seconds; the listing
shows under "Coming up" only spaces with a start time."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.browser.support import CHROMIUM, Browsers, until
from tests.support.api import register
from tests.support.servers import LiveServer
from townhall.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]

# A person's browser: headless Chromium says "HeadlessChrome", which is counted apart as a tool.
PERSON_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
BELOW_FOLD = 40  # scheduled spaces on the listing: the last ones are off screen in a 1100x900 window


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"spaces_per_hour_per_account": 100, "lease_ttl_s": 6.0})


async def _page(chromium: Browsers, url: str) -> Any:
    browser = chromium.launched[0] if chromium.launched else await chromium.launch()
    context = await browser.new_context(viewport={"width": 1100, "height": 900}, user_agent=PERSON_UA)
    page = await context.new_page()
    page.on("pageerror", lambda exc: chromium.errors.append(str(exc)))
    page.on("console", lambda msg: chromium.console.append(f"{msg.type}: {msg.text}"[:300]))
    await page.goto(url)
    return page


async def _views(http: httpx.AsyncClient, space_id: str) -> dict[str, Any]:
    counts: dict[str, Any] = (await http.get(f"/api/spaces/{space_id}/counts")).json()
    return counts


async def test_listing_counts_cards_seen_for_a_second_not_those_below_the_fold(
    server: LiveServer, chromium: Browsers
) -> None:
    assert CHROMIUM
    rt = server.runtime
    async with server.client(headers={"User-Agent": PERSON_UA}) as http:
        host = await register(http)
        soon = rt.clock() + 3600
        ids = []
        for i in range(BELOW_FOLD):
            r = await http.post(
                "/api/spaces", json={"title": f"Later {i:02d}", "scheduled_start": soon + i}, headers=host["headers"]
            )
            ids.append(r.json()["id"])
        unscheduled = (await http.post("/api/spaces", json={"title": "Whenever"}, headers=host["headers"])).json()
        page = await _page(chromium, f"{server.url}/")
        first, last = ids[0], ids[-1]
        await until(lambda: page.locator(f'li[data-space="{first}"]').count(), 10, "the listing")
        assert await page.locator(f'li[data-space="{unscheduled["id"]}"]').count() == 0  # not "Coming up"
        seen_at = time.monotonic()

        async def counted(space_id: str, n: int) -> bool:
            return bool((await _views(http, space_id))["views"]["post_views"] >= n)

        await until(lambda: counted(first, 1), 15, "the first card's view")
        assert time.monotonic() - seen_at >= 1.0  # not before a second on screen
        assert (await _views(http, last))["views"]["post_views"] == 0  # never on screen
        assert (await _views(http, first))["listens"]["live_joins"] == 0  # a view is not a listen
        # seen again after leaving the screen: counted again (views are not unique); the last card now counts
        await page.locator(f'li[data-space="{last}"]').scroll_into_view_if_needed()
        await until(lambda: counted(last, 1), 15, "the last card's view once scrolled to")
        await page.locator(f'li[data-space="{first}"]').scroll_into_view_if_needed()
        await until(lambda: counted(first, 2), 25, "the first card's second view")
        # a glimpse shorter than a second is no view
        before = (await _views(http, last))["views"]["post_views"]
        await page.locator(f'li[data-space="{last}"]').scroll_into_view_if_needed()
        await asyncio.sleep(0.3)  # the glimpse itself: the thing under test is a duration
        await page.locator(f'li[data-space="{first}"]').scroll_into_view_if_needed()
        await page.wait_for_timeout(12_000)  # past the beacon batch window: anything queued has been sent
        assert (await _views(http, last))["views"]["post_views"] == before


async def test_space_replay_and_clip_pages_count_views_the_embed_apart_and_a_clip_play_after_two_seconds(
    server: LiveServer, chromium: Browsers
) -> None:
    rt = server.runtime
    async with server.client(headers={"User-Agent": PERSON_UA}) as http:
        host = await register(http)
        sid = (await http.post("/api/spaces", json={"title": "Seen"}, headers=host["headers"])).json()["id"]
        assert (await http.post(f"/api/spaces/{sid}/start", headers=host["headers"])).status_code == 200

        await _page(chromium, f"{server.url}/s/{sid}")
        await until(lambda: _has(http, sid, "post_views", 1), 15, "the space page's view")
        await _page(chromium, f"{server.url}/embed/{sid}")
        await until(lambda: _has(http, sid, "embed_views", 1), 15, "the embed's view")
        counts = await _views(http, sid)
        assert counts["views"]["post_views"] == 1  # the embed is not added to views

        async def two_segments() -> bool:
            return len(await rt.recording.replay.links.links(sid)) >= 2

        await until(two_segments, 30, "two recorded segments")
        r = await http.post(f"/api/spaces/{sid}/clips", json={"duration_s": 4, "title": "bit"}, headers=host["headers"])
        assert r.status_code == 201, r.text
        clip = r.json()
        page = await _page(chromium, f"{server.url}/c/{clip['id']}")
        await until(lambda: _has(http, sid, "clip_views", 1), 15, "the clip page's view")
        assert (await http.get(f"/api/clips/{clip['id']}")).json()["counts"]["clip_plays"] == 0
        await until(lambda: page.locator("#play").is_enabled(), 15, "the clip's play button")
        await page.click("#play")
        await until(lambda: page.evaluate("document.body.dataset.clipPlay === 'sent'"), 15, "2 s of the clip played")
        played = await page.evaluate("document.querySelector('#audio').currentTime")
        assert played >= 2.0

        async def play_counted() -> bool:
            return bool((await http.get(f"/api/clips/{clip['id']}")).json()["counts"]["clip_plays"] == 1)

        await until(play_counted, 20, "the clip play counted")

        # the replay page counts as the space's page
        assert (await http.post(f"/api/spaces/{sid}/end", headers=host["headers"])).status_code == 200

        async def published() -> bool:
            return (await http.get(f"/api/spaces/{sid}/replay")).status_code == 200

        await until(published, 30, "the replay")
        await _page(chromium, f"{server.url}/r/{sid}")
        await until(lambda: _has(http, sid, "post_views", 2), 15, "the replay page's view")
        views = (await _views(http, sid))["views"]
        assert views["embed_views"] == 1 and views["clip_views"] == 1


async def _has(http: httpx.AsyncClient, space_id: str, metric: str, n: int) -> bool:
    return bool((await _views(http, space_id))["views"].get(metric, 0) >= n)
