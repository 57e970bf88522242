"""Every page usable on a phone-sized screen and with the keyboard alone, with every control labelled for
screen readers: no sideways scrolling at 390 px, Tab reaches Listen and Enter starts the audio."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.support import Browsers, press_listen
from tests.support.servers import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(60)]

PHONE = {"width": 390, "height": 844}

# Controls a screen reader could not name: buttons without text or label, inputs without a label.
UNLABELLED_JS = """
() => {
  const named = (e) => (e.getAttribute("aria-label") || "").trim() || (e.labels && e.labels.length)
    || (e.getAttribute("aria-labelledby") || "") || (e.tagName === "BUTTON" && e.textContent.trim());
  return Array.from(document.querySelectorAll("button, input, select, textarea"))
    .filter((e) => e.offsetParent !== null && !named(e))
    .map((e) => e.outerHTML.slice(0, 120));
}
"""
OVERFLOW_JS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


async def phone_page(chromium: Browsers, name: str, url: str) -> Any:
    page = await chromium.page(name, chromium.launched[0], url)
    await page.set_viewport_size(PHONE)
    return page


async def test_pages_fit_a_phone_label_every_control_and_work_from_the_keyboard(
    server: LiveServer, chromium: Browsers
) -> None:
    rt = server.runtime
    host = (await rt.accounts.register("a11y_host", "password-host", "127.0.0.1")).account
    space = await rt.spaces.start(host, (await rt.spaces.create(host, "Reachable by everyone", None, None)).id)
    await chromium.launch()

    listener = await phone_page(chromium, "listener-phone", f"{server.url}/s/{space.id}")
    await listener.locator("#play:not([disabled])").wait_for(timeout=10_000)
    studio = await phone_page(chromium, "studio-phone", f"{server.url}/studio")
    await studio.locator("#signin-handle").wait_for()
    index = await phone_page(chromium, "index-phone", f"{server.url}/")
    await index.locator("#live li", has_text="Reachable by everyone").wait_for(timeout=10_000)

    for page in (listener, studio, index):
        assert await page.evaluate(OVERFLOW_JS) <= 0, f"{page.url} scrolls sideways on a phone"
        assert await page.evaluate(UNLABELLED_JS) == [], f"{page.url} has unlabelled controls"

    await studio.fill("#signin-handle", "phone_host")
    await studio.fill("#signin-password", "password-phone")
    await studio.click("#register")
    await studio.fill("#new-title", "Hosted from a phone")
    await studio.click("#create")
    await studio.locator("#room-title", has_text="Hosted from a phone").wait_for(timeout=10_000)
    assert await studio.evaluate("document.activeElement.id") == "room-title", "the opened space takes the focus"
    assert await studio.evaluate(OVERFLOW_JS) <= 0, "the studio's space scrolls sideways on a phone"
    assert await studio.evaluate(UNLABELLED_JS) == [], "the studio's space has unlabelled controls"

    await listener.evaluate("document.activeElement && document.activeElement.blur()")
    for _ in range(20):
        await listener.keyboard.press("Tab")
        if await listener.evaluate("document.activeElement && document.activeElement.id") == "play":
            break
    else:
        raise AssertionError("Tab never reached the Listen button")
    await press_listen(listener, lambda: listener.keyboard.press("Enter"))
