"""Listener tokens are short-lived and each renewal gives a fresh one: in real Chromium behind a real
Varnish edge, the player (the page's default, chunked CMAF in dash.js) carries the newest token on its next
requests and plays on past several token lifetimes without losing its seat or joining again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.support import Browsers, press_listen, until
from tests.support.api import register
from tests.support.servers import LiveServer
from townhall.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(90)]
TOKEN_TTL_S = 4  # a lifetime shorter than the test, renewed every lease_ttl_s / 3 = 2 s

# The distinct tokens in the paths of the media requests the page made through the edge.
TOKENS_JS = """
Array.from(new Set(performance.getEntriesByType("resource")
  .map((e) => new URL(e.name).pathname.match(/^\\/e\\/([^/]+)\\/live\\//))
  .filter(Boolean).map((m) => m[1])))
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"listener_token_ttl_s": TOKEN_TTL_S, "lease_ttl_s": 6.0})


async def test_the_player_plays_on_with_each_renewals_fresh_token(
    server_behind_edge: LiveServer, chromium: Browsers
) -> None:
    server = server_behind_edge
    async with server.client() as http:
        host = await register(http)
        sid = (await http.post("/api/spaces", json={"title": "Long one"}, headers=host["headers"])).json()["id"]
        assert (await http.post(f"/api/spaces/{sid}/start", headers=host["headers"])).status_code == 200
        page: Any = await chromium.page("listener", await chromium.launch(), f"{server.url}/s/{sid}")
        # room for every entry, so none of the tokens goes unrecorded (hls.js, the fallback, can fetch one part a
        # few hundred times in its first second)
        await page.evaluate("performance.setResourceTimingBufferSize(100000)")
        await press_listen(page)
        await until(lambda: page.evaluate("document.querySelector('#audio').currentTime > 0.5"), 20, "playback")
        assert await page.evaluate("window.townhall.player.kind") == "dash.js", "the page's default, chunked CMAF"

        async def tokens_used() -> int:
            return len(await page.evaluate(TOKENS_JS))

        await until(lambda: _at_least(tokens_used, 3), 30, "media requests with 3 successive tokens")
        start = await page.evaluate("document.querySelector('#audio').currentTime")
        await until(
            lambda: page.evaluate(f"document.querySelector('#audio').currentTime > {start + 2 * TOKEN_TTL_S}"),
            30,
            "playback going on past two token lifetimes",
        )
        seated, _ = await server.runtime.admission.counts(await server.runtime.spaces.get(sid))
        assert seated == 1
        assert await page.get_attribute("#play", "aria-pressed") == "true"
        joins = (await http.get(f"/api/spaces/{sid}/counts")).json()["synthetic"].get("joins", 0)
        assert joins == 1, "the page joined again: a token ran out under the player"


async def _at_least(measure: Any, n: int) -> bool:
    return bool(await measure() >= n)
