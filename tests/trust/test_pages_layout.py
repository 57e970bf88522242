"""The operator-facing pages as people see them, at desktop and phone size in real Chromium: the moderation
desk's section links span the desk (not one grid cell), its selects are full-size controls, and the
transparency report has the site's look and fits a phone with nothing cut off. Screenshots of each go to
the test artifacts (artifacts/browser)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import ARTIFACTS, browsers
from tests.support.api import register
from tests.support.servers import live_server
from tests.trust.conftest import trust_settings

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
OVERFLOW_JS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


async def test_the_admin_desk_and_the_transparency_report_at_desktop_and_phone_size(
    tmp_path: Path, request: Any
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with live_server(trust_settings(tmp_path)) as server, server.client() as client:
        admin = await register(client)
        await server.runtime.accounts.grant(admin["account_id"], "admin")
        async with browsers(tmp_path, request.node.name) as b:
            browser = await b.launch()
            for size, (width, height) in SIZES.items():
                page = await b.page(f"admin-{size}", browser, f"{server.url}/admin")
                await page.set_viewport_size({"width": width, "height": height})
                await page.fill("#signin-handle", admin["handle"])
                await page.fill("#signin-password", "correct horse")
                await page.press("#signin-password", "Enter")
                nav = page.get_by_role("navigation", name="Sections")
                await nav.wait_for(timeout=10_000)
                desk = await page.locator("#desk").bounding_box()
                links = await nav.bounding_box()
                assert desk and links and links["width"] > 0.9 * desk["width"], (size, desk, links)
                select = await page.locator("#d-action").bounding_box()
                assert select and select["height"] >= 40, (size, select)  # a control a thumb can use
                assert await page.evaluate(OVERFLOW_JS) <= 0, f"the desk scrolls sideways at {size} size"
                await page.screenshot(path=str(ARTIFACTS / f"admin-{size}.png"), full_page=True)

                report = await b.page(f"transparency-{size}", browser, f"{server.url}/transparency")
                await report.set_viewport_size({"width": width, "height": height})
                await report.get_by_role("heading", name="Transparency report").wait_for()
                assert await report.locator("header .brand").inner_text() == "townhall"  # the site's look
                assert await report.evaluate(OVERFLOW_JS) <= 0, f"the report scrolls sideways at {size} size"
                await report.screenshot(path=str(ARTIFACTS / f"transparency-{size}.png"), full_page=True)
