"""The host studio in real Chromium: schedule a space with a listener cap, change the cap, go live; invite
a listener by handle, who accepts, speaks, mutes themself, is made co-host (and moderates from the
studio) and steps down, all without reloading; the host then removes them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.browser.support import Browsers, tone_wav
from tests.browser.test_live_space import GUEST_HZ, HOST_HZ, sign_up
from tests.support.servers import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(120)]


async def test_host_schedules_caps_goes_live_invites_a_listener_who_speaks_mutes_cohosts_steps_down_and_is_removed(
    server: LiveServer, chromium: Browsers, tmp_path: Path
) -> None:
    host = await chromium.page(
        "host", await chromium.launch(tone_wav(tmp_path / "h.wav", HOST_HZ)), f"{server.url}/studio"
    )
    await sign_up(host, "planner")
    await host.fill("#new-title", "Tomorrow's talk")
    tomorrow = dt.datetime.now() + dt.timedelta(days=1)
    await host.fill("#new-start", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    await host.fill("#new-cap", "2")
    await host.fill("#new-rate", "120")
    await host.click("#create")
    await host.locator("#room-badge", has_text="scheduled").wait_for()
    await host.locator("#cap-now", has_text="cap 2, 120 let in a minute").wait_for()
    assert "starts" in (await host.locator("#room-when").text_content() or "")
    link = await host.input_value("#share-link")

    index = await chromium.page("index", chromium.launched[0], f"{server.url}/")
    await index.locator("#scheduled li", has_text="Tomorrow's talk").wait_for(timeout=10_000)

    guest = await chromium.page("guest", await chromium.launch(tone_wav(tmp_path / "g.wav", GUEST_HZ)), link)
    await guest.locator("#status", has_text="has not started yet").wait_for(timeout=10_000)
    assert "scheduled for" in (await guest.locator("#status").text_content() or "")

    await host.fill("#cap", "5")
    await host.click("#set-cap")
    await host.locator("#cap-now", has_text="cap 5, 120 let in a minute").wait_for()

    await host.click("#golive")
    await host.locator("#room[data-on-air='true']").wait_for(timeout=15_000)
    await guest.locator("#badge", has_text="live").wait_for(timeout=10_000)
    await guest.locator("#play:not([disabled])").wait_for(timeout=10_000)
    await index.locator("#live li", has_text="Tomorrow's talk").wait_for(timeout=15_000)

    await sign_up(guest, "invitee")
    await guest.locator("#ask-box:not([hidden])").wait_for(timeout=10_000)
    await host.fill("#invite-handle", "invitee")
    await host.click("#invite")
    await guest.locator("#invite-box:not([hidden])").wait_for(timeout=10_000)
    await guest.click("#invite-accept")
    await guest.locator("#speaker-view[data-live='true']").wait_for(timeout=15_000)
    await host.locator("#stage li[data-handle='invitee']").wait_for(timeout=10_000)

    await guest.click("#mute-self")
    await guest.locator("#mute-self[aria-pressed='true']").wait_for()
    await host.locator("#stage li[data-handle='invitee'].muted").wait_for(timeout=10_000)

    await host.get_by_role("button", name="Make @invitee co-host").click()
    await guest.locator("#cohost-tools:not([hidden])").wait_for(timeout=10_000)
    desk = await guest.context.new_page()  # the co-host's studio, in the same browser profile
    chromium.pages["cohost-studio"] = desk
    await desk.goto(f"{server.url}/studio#{link.rsplit('/', 1)[1]}")
    await desk.locator("#stage li[data-handle='planner']").wait_for(timeout=10_000)
    assert await desk.locator("#end").is_hidden(), "ending is the host's alone"
    await desk.close()
    del chromium.pages["cohost-studio"]

    await guest.click("#step-down")
    await guest.locator("#speaker-view").wait_for(state="hidden", timeout=10_000)
    assert await guest.locator("body").get_attribute("data-view") is None
    await guest.locator("#play:not([disabled])").wait_for(timeout=10_000)
    await host.locator("#stage li[data-handle='invitee']").wait_for(state="detached", timeout=10_000)

    await host.fill("#invite-handle", "invitee")
    await host.click("#remove-handle")
    await guest.locator("#status", has_text="You were removed from this space").wait_for(timeout=10_000)
    await host.locator("#log", has_text="You removed @invitee").wait_for()
