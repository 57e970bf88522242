"""Trust pages in real Chromium: the transparency chart shows its longest category label whole, and a
listener where the space is withheld reads the reason once, ending in "local law." (one full stop)."""

from __future__ import annotations

import pytest

from tests.browser.support import Browsers
from tests.support.api import live_space
from tests.support.servers import LiveServer
from tests.trust.conftest import staff_maker
from tests.trust.support import ILLEGAL, decide
from townhall.trust import reasons, transparency

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(60)]

# Each label's words and code as Chromium lays them out, beside the chart's own box.
LABEL_BOXES_JS = """
() => {
  const chart = document.querySelector("figure.chart").getBoundingClientRect();
  return Array.from(document.querySelectorAll("ul.bars .label")).map((l) => {
    const box = l.getBoundingClientRect();
    return { text: l.textContent, left: box.left - chart.left, right: chart.right - box.right };
  });
}
"""


@pytest.mark.parametrize("width", [1280, 360])
async def test_the_transparency_chart_shows_the_longest_category_label_whole(chromium: Browsers, width: int) -> None:
    longest = max(reasons.CATEGORIES, key=len)
    chart = transparency.bar_chart("Notices by category", {longest: 3, "STATEMENT_CATEGORY_SCAMS_AND_FRAUD": 1})
    page = await (await (await chromium.launch()).new_context(viewport={"width": width, "height": 800})).new_page()
    await page.set_content(f"<!doctype html><html><head><style>{transparency._STYLE}</style></head><body>{chart}")
    boxes = await page.evaluate(LABEL_BOXES_JS)
    assert boxes[0]["text"] == f"{transparency.label(longest)} {longest}"  # words and code, neither cut short
    assert all(b["left"] >= 0 and b["right"] >= 0 for b in boxes), boxes  # inside the chart, even on a phone


async def test_a_withheld_listener_reads_the_reason_with_one_full_stop(server: LiveServer, chromium: Browsers) -> None:
    async with server.client() as http:
        staff = staff_maker(http, server.app)
        host, moderator = await staff(), await staff("moderator")
        space = await live_space(http, host)
        await decide(
            http, moderator, action="withhold", target_kind="space", target_id=space["id"], countries=["de"], **ILLEGAL
        )
    context = await (await chromium.launch()).new_context(extra_http_headers={"X-Country-Code": "DE"})
    page = await context.new_page()
    await page.goto(f"{server.url}/s/{space['id']}")
    await page.locator("body[data-refusal='withheld_in_country']").wait_for(timeout=15_000)
    status = (await page.locator("#status").text_content() or "").strip()
    assert status.endswith("based on local law."), status
    assert ".." not in status
