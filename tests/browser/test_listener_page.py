"""The listener page's first-hour rough edges, in real Chromium: a waiting page never claims "0 listening"
of a full space, the status says the space is being heard once it plays, and an ended space leaves only
its end and the replay (no speakers, reactions or requests to speak)."""

from __future__ import annotations

import pytest

from tests.browser.support import Browsers, press_listen
from tests.browser.test_admission import live_space
from tests.support.servers import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(90)]


async def test_a_full_space_waits_without_a_false_count_and_an_ended_one_shows_only_its_end(
    server: LiveServer, chromium: Browsers
) -> None:
    host, space = await live_space(server, "Full then ended", cap=1)
    browser = await chromium.launch()
    link = f"{server.url}/s/{space.id}"
    first = await chromium.page("seated", browser, link)
    await press_listen(first)  # autoplay may be refused (a player restarted after a stall): the page asks
    await first.locator("#status", has_text="hearing it now").wait_for(timeout=15_000)  # playing, and says so
    assert "Press Listen" not in (await first.locator("#status").text_content() or "")

    waiting = await chromium.page("waiting", browser, link)
    await waiting.locator("#status[data-position='1']").wait_for(timeout=10_000)
    count_line = waiting.locator("#count-line")
    assert not await count_line.is_visible() or await waiting.locator("#count").inner_text() != "0"

    await server.runtime.spaces.end(host, space.id)
    for page in (first, waiting):
        await page.locator("body[data-over='true']").wait_for(timeout=15_000)
        await page.locator("#replay-link").wait_for(state="visible", timeout=5_000)
        for card in ("#speakers-card", "#reactions-card", "#participate"):
            assert not await page.locator(card).is_visible(), f"{card} still shown after the end"
        assert "has ended" in (await page.locator("#status").text_content() or "")
