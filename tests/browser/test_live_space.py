"""A live space in real Chromium: the host goes live from the studio with a fake microphone, listeners
hear it through the listener page (an analyser on the playing element; chunked CMAF in dash.js by default,
LL-HLS in hls.js with `?play=hls`), see who speaks and how many listen; a listener is brought on stage and
heard; muting silences them; ending reaches every page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.support import Browsers, Ear, press_listen, tone_wav, until
from tests.support.servers import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(150)]

HOST_HZ = 440.0
GUEST_HZ = 1250.0


async def sign_up(page: Any, handle: str) -> None:
    await page.fill("#signin-handle", handle)
    await page.fill("#signin-password", f"password-{handle}")
    await page.click("#register")


async def host_goes_live(chromium: Browsers, server: LiveServer, tmp_path: Path, title: str) -> tuple[Any, str]:
    """The host signs up in the studio, creates a space and goes live with the microphone."""
    host = await chromium.page(
        "host", await chromium.launch(tone_wav(tmp_path / "host.wav", HOST_HZ)), f"{server.url}/studio"
    )
    await sign_up(host, "the_host")
    await host.fill("#new-title", title)
    await host.click("#create")
    await host.locator("#golive").wait_for(state="visible")
    await host.click("#golive")
    await host.locator("#room[data-on-air='true']").wait_for(timeout=15_000)
    link = await host.input_value("#share-link")
    return host, link


async def listen(chromium: Browsers, name: str, link: str, browser: Any | None = None) -> tuple[Any, Ear]:
    page = await chromium.page(name, browser or await chromium.launch(), link)
    await page.locator("#play:not([disabled])").wait_for(timeout=30_000)
    await press_listen(page)
    return page, Ear(page, "#audio", (HOST_HZ, GUEST_HZ))


async def test_listener_hears_the_host_through_the_edge_sees_the_speaker_the_count_and_the_reactions(
    server_behind_edge: LiveServer, chromium: Browsers, tmp_path: Path
) -> None:
    server = server_behind_edge
    host, link = await host_goes_live(chromium, server, tmp_path, "Tones at four forty")
    listener, ear = await listen(chromium, "listener", link)
    edge = server.runtime.settings.listener_base_url
    seat_on_edge = "(edge) => window.townhall.seat.playlist_url.startsWith(edge + '/e/')"
    assert await listener.evaluate(seat_on_edge, edge), "the stream does not come through the edge"

    level = await ear.hears(HOST_HZ, timeout_s=30)
    assert level > -45
    assert (await ear.sample())["dbfs"] > -50, "the playing element is silent"
    await listener.locator("#speakers li[data-handle='the_host']").wait_for()
    await until(lambda: _text_is(listener, "#count", "1"), 10, "the listener count at 1")
    await listener.locator("#speakers li[data-handle='the_host'][data-speaking='true']").wait_for(timeout=10_000)
    await until(lambda: _text_is(host, "#listeners", "1"), 10, "the studio's count at 1")

    await listener.click("button.reaction[data-kind='clap']")
    await listener.locator("#reaction-counts [data-kind='clap']", has_text="1").wait_for(timeout=10_000)


async def _text_is(page: Any, selector: str, text: str) -> bool:
    return bool(await page.locator(selector).text_content() == text)


async def test_listener_brought_on_stage_is_heard_then_muted_and_every_page_sees_the_end(
    server: LiveServer, chromium: Browsers, tmp_path: Path
) -> None:
    host, link = await host_goes_live(chromium, server, tmp_path, "Bring a guest on stage")
    guest_browser = await chromium.launch(tone_wav(tmp_path / "guest.wav", GUEST_HZ))
    guest, _ = await listen(chromium, "guest", link, guest_browser)
    await sign_up(guest, "the_guest")
    await guest.click("#ask")
    await guest.locator("#ask[data-asked='true']").wait_for()

    await host.get_by_role("button", name="Accept @the_guest").click()
    await guest.locator("body[data-view='speaker']").wait_for(timeout=10_000)
    await guest.locator("#speaker-view[data-live='true']").wait_for(timeout=15_000)
    await Ear(guest, "#mixminus", (HOST_HZ,)).hears(HOST_HZ, timeout_s=15)  # the guest hears the host

    # LL-HLS in hls.js on request (the page's default is chunked CMAF in dash.js, as the guest's was)
    listener, ear = await listen(chromium, "listener", f"{link}?play=hls")
    assert await listener.evaluate("window.townhall.player.kind") == "hls.js"
    await ear.hears(GUEST_HZ, timeout_s=30)
    await ear.hears(HOST_HZ, timeout_s=5)
    await listener.locator("#speakers li[data-handle='the_guest']").wait_for()

    await host.get_by_role("button", name="Mute @the_guest").click()
    await guest.locator("#mute-self[aria-pressed='true']").wait_for(timeout=10_000)
    await ear.silent(GUEST_HZ, timeout_s=15, held_s=1.5)
    await ear.hears(HOST_HZ, timeout_s=5)  # the host goes on being heard
    await listener.locator("#speakers li[data-handle='the_guest'].muted").wait_for(timeout=10_000)

    await host.click("#end")
    for page, status in ((host, "#room-status"), (guest, "#status"), (listener, "#status")):
        await page.locator(status, has_text="This space has ended").wait_for(timeout=10_000)
    assert await listener.locator("#badge").text_content() == "ended"
