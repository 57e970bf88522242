"""A scheduled space in real Chromium: before the start the listener's page waits in a lobby with a
countdown, with no seat and no live listen counted however often it asks; it plays once the host starts."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.support import Browsers, until
from tests.support.api import register
from tests.support.servers import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(90)]
PERSON_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


async def test_an_early_listener_waits_in_a_lobby_that_is_not_a_seat_nor_a_listen(
    server: LiveServer, chromium: Browsers
) -> None:
    rt = server.runtime
    async with server.client() as http:
        host = await register(http)
        start_at = rt.clock() + 600
        r = await http.post(
            "/api/spaces", json={"title": "At ten", "scheduled_start": start_at}, headers=host["headers"]
        )
        sid = r.json()["id"]
        browser = await chromium.launch()
        context = await browser.new_context(user_agent=PERSON_UA)
        page: Any = await context.new_page()
        page.on("pageerror", lambda exc: chromium.errors.append(str(exc)))
        await page.goto(f"{server.url}/s/{sid}")
        await page.locator("body[data-lobby='true']").wait_for(timeout=10_000)
        first = int(await page.get_attribute("#status", "data-countdown") or 0)
        assert 590 <= first <= 600
        assert "starts in" in (await page.locator("#status").text_content() or "")

        async def counted_down() -> bool:
            return int(await page.get_attribute("#status", "data-countdown") or 9999) <= first - 7

        await until(counted_down, 15, "the countdown to run (the page asked to join again meanwhile)")
        space = await rt.spaces.get(sid)
        assert await rt.admission.counts(space) == (0, 0)
        listens = (await http.get(f"/api/spaces/{sid}/counts")).json()["listens"]
        assert listens["live_joins"] == 0 and listens["live_unique_listeners"] == 0
        assert await page.locator("#play").is_disabled()

        assert (await http.post(f"/api/spaces/{sid}/start", headers=host["headers"])).status_code == 200
        await page.locator("#play:not([disabled])").wait_for(timeout=15_000)
        assert await page.locator("body[data-lobby='true']").count() == 0

        async def one_join() -> bool:
            return bool((await http.get(f"/api/spaces/{sid}/counts")).json()["listens"]["live_joins"] == 1)

        await until(one_join, 10, "the one live join")
