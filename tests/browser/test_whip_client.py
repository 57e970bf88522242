"""Standards compliance of the WHIP endpoint: a third-party browser WHIP client from the npm registry
(whip-whep, vendored under web/vendor) publishes a fake microphone into a live space and hangs up."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.support import Browsers, tone_wav, until
from tests.support.servers import LiveServer, free_port

WEB = Path(__file__).resolve().parents[2] / "src" / "townhall" / "web"

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(60)]

PUBLISH_JS = """
async ([whipUrl, token]) => {
  const { WHIPClient } = await import("/static/vendor/whip-whep/whip.js");
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  const pc = new RTCPeerConnection();
  pc.addTransceiver(stream.getAudioTracks()[0], { direction: "sendonly" });
  const whip = new WHIPClient();
  await whip.publish(pc, whipUrl, token);
  window.__whip = { whip, pc };
  return whip.resourceURL.toString();
}
"""


async def test_the_whip_whep_client_from_npm_publishes_into_a_space_and_hangs_up(
    server: LiveServer, chromium: Browsers, tmp_path: Path
) -> None:
    rt = server.runtime
    host = (await rt.accounts.register("whip_host", "password-host", "127.0.0.1")).account
    space = await rt.spaces.start(host, (await rt.spaces.create(host, "Published by whip-whep", None, None)).id)
    token = await rt.spaces.speaker_token(host, space.id)
    browser = await chromium.launch(tone_wav(tmp_path / "tone.wav", 440))
    page = await chromium.page("publisher", browser, f"{server.url}/")

    resource = await page.evaluate(PUBLISH_JS, [f"{server.url}/whip/{space.id}", token])
    assert resource.startswith(f"{server.url}/whip/{space.id}/")

    live = rt.media.node.spaces[space.id]
    await until(lambda: page.evaluate("window.__whip.pc.connectionState === 'connected'"), 15, "ICE connected")
    await until(lambda: _speaking(live, host.id), 10, "the media node hearing the whip-whep publisher")

    await page.evaluate("window.__whip.whip.stop()")
    await until(lambda: _gone(live, host.id), 10, "the WHIP session gone after DELETE")


async def _speaking(live: object, account_id: str) -> bool:
    return account_id in live.mixer.speaking()  # type: ignore[attr-defined]


async def _gone(live: object, account_id: str) -> bool:
    return account_id not in live.publishers  # type: ignore[attr-defined]


@contextlib.contextmanager
def other_origin(root: Path) -> Iterator[str]:
    """A static web server on another port (another origin): a broadcaster's own page with the WHIP client."""
    vendor = root / "static" / "vendor" / "whip-whep"
    vendor.mkdir(parents=True)
    shutil.copy(WEB / "vendor" / "whip-whep" / "whip.js", vendor / "whip.js")
    (root / "index.html").write_text('<!doctype html><link rel="icon" href="data:,"><title>broadcaster</title>')
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_a_whip_client_on_another_origin_publishes_after_a_cors_preflight(
    server: LiveServer, chromium: Browsers, tmp_path: Path
) -> None:
    rt = server.runtime
    host = (await rt.accounts.register("cors_host", "password-host", "127.0.0.1")).account
    space = await rt.spaces.start(host, (await rt.spaces.create(host, "Published from elsewhere", None, None)).id)
    token = await rt.spaces.speaker_token(host, space.id)
    browser = await chromium.launch(tone_wav(tmp_path / "tone.wav", 440))
    with other_origin(tmp_path / "site") as site:
        page = await chromium.page("broadcaster", browser, f"{site}/")
        resource = await page.evaluate(PUBLISH_JS, [f"{server.url}/whip/{space.id}", token])
        assert resource.startswith(f"{server.url}/whip/{space.id}/")  # Location was readable across origins
        live = rt.media.node.spaces[space.id]
        await until(lambda: _speaking(live, host.id), 15, "the media node hearing the other origin's publisher")
        await page.evaluate("window.__whip.whip.stop()")  # DELETE, preflighted too
        await until(lambda: _gone(live, host.id), 10, "the WHIP session gone after a cross-origin DELETE")
