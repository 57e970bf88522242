"""Admission in real Chromium: a capped space's waiting room with a live position, and a clear message
for every refusal (ended, withheld in the listener's country, removed by the host, no such space)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.browser.conftest import LEASE_TTL_S
from tests.browser.support import Browsers
from tests.support.servers import LiveServer
from townhall.domain.errors import LegallyWithheld

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(90)]


async def live_space(server: LiveServer, title: str, cap: int | None = None) -> tuple[Any, Any]:
    rt = server.runtime
    host = (await rt.accounts.register(f"host_{abs(hash(title)) % 10**6}", "password-host", "127.0.0.1")).account
    space = await rt.spaces.create(host, title, None, cap)
    return host, await rt.spaces.start(host, space.id)


async def holds_seat_past_its_lease(server: LiveServer, space_id: str, page: Any) -> None:
    """The page renews its lease: its seat outlives the lease time several times over."""
    rt = server.runtime
    space = await rt.spaces.get(space_id)
    deadline = time.monotonic() + LEASE_TTL_S * 1.5
    while time.monotonic() < deadline:
        assert (await rt.admission.counts(space))[0] == 1, "the seat was lost: the page did not renew it"
        await asyncio.sleep(0.5)
    assert await page.locator("#status", has_text="You are in").count() == 1


async def test_capped_space_shows_a_waiting_position_and_admits_when_a_listener_leaves_or_closes_the_tab(
    server: LiveServer, chromium: Browsers
) -> None:
    _, space = await live_space(server, "Room for one", cap=1)
    browser = await chromium.launch()
    link = f"{server.url}/s/{space.id}"
    first = await chromium.page("first", browser, link)
    await first.locator("#status", has_text="You are in").wait_for(timeout=10_000)

    second = await chromium.page("second", browser, link)
    await second.locator("#status[data-position='1']", has_text="number 1 in line").wait_for(timeout=10_000)
    assert await second.locator("#play").is_disabled()
    await first.locator("#count", has_text="1").wait_for(timeout=5_000)
    await holds_seat_past_its_lease(server, space.id, first)

    await first.close()  # leaving by closing the tab releases the seat at once (fetch keepalive on pagehide)
    del chromium.pages["first"]
    await second.locator("#status", has_text="You are in").wait_for(timeout=10_000)
    assert await second.locator("#status").get_attribute("data-position") is None
    await second.locator("#play:not([disabled])").wait_for(timeout=10_000)
    await second.locator("#count", has_text="1").wait_for(timeout=5_000)

    third = await chromium.page("third", browser, link)
    await third.locator("#status[data-position='1']").wait_for(timeout=10_000)
    await second.click("#leave")
    await second.locator("#status", has_text="You left").wait_for()
    await third.locator("#status", has_text="You are in").wait_for(timeout=10_000)


async def test_every_refusal_is_explained_on_the_listener_page(server: LiveServer, chromium: Browsers) -> None:
    rt = server.runtime
    browser = await chromium.launch()

    host, ended = await live_space(server, "Already over")
    await rt.spaces.end(host, ended.id)
    page = await chromium.page("ended", browser, f"{server.url}/s/{ended.id}")
    await page.locator("#status", has_text="This space has ended").wait_for(timeout=10_000)
    assert await page.locator("#replay-link").is_visible()

    page = await chromium.page("missing", browser, f"{server.url}/s/no-such-space")
    await page.locator("#status", has_text="There is no such space").wait_for(timeout=10_000)

    _, withheld = await live_space(server, "Not here")

    async def withhold(space: Any, listener: Any, country: str | None) -> None:
        if space.id == withheld.id:
            raise LegallyWithheld("withheld_in_country", "withheld in FR by a court order")

    rt.admission.space_gates.append(withhold)
    page = await chromium.page("withheld", browser, f"{server.url}/s/{withheld.id}")
    await page.locator("#status", has_text="not available in your country").wait_for(timeout=10_000)
    assert await page.locator("body").get_attribute("data-refusal") == "withheld_in_country"

    host, space = await live_space(server, "Mind your manners")
    page = await chromium.page("removed", browser, f"{server.url}/s/{space.id}")
    await page.fill("#signin-handle", "heckler")
    await page.fill("#signin-password", "password-heckler")
    await page.click("#register")
    await page.locator("#ask-box:not([hidden])").wait_for(timeout=10_000)
    await page.click("#ask")  # asking to speak makes a listener known to the host, who can then remove them
    await page.locator("#ask[data-asked='true']").wait_for()
    heckler = await rt.accounts.by_handle("heckler")
    await rt.spaces.remove(host, space.id, heckler.id)
    await page.locator("#status", has_text="You were removed from this space").wait_for(timeout=10_000)
    await page.reload()
    await page.locator("#status", has_text="You were removed from this space").wait_for(timeout=10_000)
    assert await page.locator("body").get_attribute("data-refusal") == "removed_from_space"


async def test_a_place_in_line_survives_a_refresh_by_its_ticket_and_under_attack_the_page_solves_the_proof(
    server: LiveServer, chromium: Browsers
) -> None:
    _, space = await live_space(server, "Refresh me", cap=1)
    browser = await chromium.launch()
    link = f"{server.url}/s/{space.id}"
    first = await chromium.page("first", browser, link)
    await first.locator("#status", has_text="You are in").wait_for(timeout=10_000)
    second = await chromium.page("second", browser, link)
    await second.locator("#status[data-position='1']").wait_for(timeout=10_000)
    third = await chromium.page("third", browser, link)
    await third.locator("#status[data-position='2']").wait_for(timeout=10_000)

    calls: list[str] = []
    second.on("request", lambda r: calls.append(r.url) if "/api/spaces/" in r.url else None)
    await second.reload()  # the page keeps its ticket: it asks "where am I", it does not join again
    await second.locator("#status[data-position='1']").wait_for(timeout=10_000)
    assert any(u.endswith("/queue") for u in calls) and not any(u.endswith("/join") for u in calls), calls
    assert await third.locator("#status").get_attribute("data-position") == "2"

    # under attack: a fresh page solves the proof of work in the browser, then joins for real
    rt = server.runtime
    _, open_space = await live_space(server, "Under attack")
    await rt.spaces.set_under_attack(open_space.id, True)
    bodies: list[str] = []
    fourth = await browser.new_page()
    fourth.on("request", lambda r: bodies.append(r.post_data or "") if r.url.endswith("/join") else None)
    await fourth.goto(f"{server.url}/s/{open_space.id}")
    await (
        fourth.locator("#status", has_text="You have a seat")
        .or_(fourth.locator("#status", has_text="You are in"))
        .wait_for(timeout=30_000)
    )
    assert bodies and '"proof"' in bodies[0]
    space_now = await rt.spaces.get(open_space.id)
    assert (await rt.admission.counts(space_now))[0] == 1  # really seated, not shown the decoy queue
    await fourth.close()
