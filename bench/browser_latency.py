"""Mouth-to-ear latency in real browsers: a host page in headless Chromium publishes a fake microphone that
beeps at known times (WHIP to the media node); a listener page plays the space through a real Varnish edge
(`--protocol chunked`, the default: the page's own default, chunked CMAF in dash.js; `--protocol hls`: the
page asked for LL-HLS in hls.js, in low-latency mode, with `?play=hls`). Both pages time each beep's onset
with the same WebAudio detector: the host on its microphone track, the listener on the playing element. Beeps
cycle through four pitches, so each one heard is matched to the beep spoken without ambiguity.

Prints mouth-to-ear p50 and p95 over at least --beeps beeps, last (goal p50 <= 1.5 s, p95 <= 2.0 s).

    .venv/bin/python bench/browser_latency.py [--beeps 36] [--timeout 120] [--added-latency-ms 0] [--protocol chunked]

--added-latency-ms delays every request of the listener page (Chromium's network emulation), as a
listener far from the edge would see; the spec asks to measure that too, not only loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the browser-driving helpers live beside the browser tests

from tests.browser.support import RATE, browsers, press_listen, until, write_wav  # noqa: E402
from tests.support.servers import free_port, live_server  # noqa: E402

from townhall.edge.varnish import Edge  # noqa: E402
from townhall.settings import Settings  # noqa: E402

PITCHES = (600.0, 850.0, 1100.0, 1400.0)
EVERY_S = 1.2  # one beep every 1.2 s; the pitch repeats every 4.8 s, the longest delay we can match
BEEP_S = 0.12

# Installed into a page: time the onset of every beep reaching `node` and name its pitch.
DETECT_JS = """
([selector, pitches]) => {
  // selector null: the host's own microphone track, as published; else the element playing the space
  const el = selector === null ? null : document.querySelector(selector);
  const ctx = new AudioContext();
  const source = el === null
    ? ctx.createMediaStreamSource(window.townhall.publication.stream)
    : ctx.createMediaElementSource(el);
  const quick = ctx.createAnalyser();
  quick.fftSize = 256;
  const wide = ctx.createAnalyser();
  wide.fftSize = 4096;
  wide.smoothingTimeConstant = 0;
  source.connect(quick);
  source.connect(wide);
  if (el !== null) quick.connect(ctx.destination);
  const onsets = (window.__onsets = []);
  const buf = new Float32Array(quick.fftSize);
  const spectrum = new Float32Array(wide.frequencyBinCount);
  let loud = false;
  let quietSince = performance.now();
  setInterval(() => {
    quick.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    const db = 10 * Math.log10(sum / buf.length + 1e-12);
    const now = performance.now();
    if (!loud && db > -35 && now - quietSince > 400) {
      loud = true;
      const at = performance.timeOrigin + now;
      setTimeout(() => {
        wide.getFloatFrequencyData(spectrum);
        const bin = ctx.sampleRate / wide.fftSize;
        let best = null, bestDb = -Infinity;
        for (const f of pitches) {
          const i = Math.round(f / bin);
          const level = Math.max(spectrum[i - 1], spectrum[i], spectrum[i + 1]);
          if (level > bestDb) { bestDb = level; best = f; }
        }
        onsets.push({ at, pitch: best });
      }, 60);
    } else if (loud && db < -45) {
      loud = false;
      quietSince = now;
    }
  }, 3);
  ctx.resume();
  return ctx.sampleRate;
}
"""


def beeps_wav(path: Path) -> Path:
    """One loop of the fake microphone: a short beep every EVERY_S, cycling through PITCHES."""
    n = int(RATE * EVERY_S * len(PITCHES))
    samples = np.zeros(n)
    t = np.arange(int(RATE * BEEP_S)) / RATE
    ramp = np.minimum(1.0, np.minimum(t, BEEP_S - t) / 0.005)
    for k, hz in enumerate(PITCHES):
        start = int(k * EVERY_S * RATE)
        samples[start : start + len(t)] = 0.5 * ramp * np.sin(2 * np.pi * hz * t)
    return write_wav(path, samples)


def match(spoken: list[dict[str, float]], heard: list[dict[str, float]]) -> list[float]:
    """For each beep heard, the delay since the latest beep of the same pitch spoken before it."""
    window_s = EVERY_S * len(PITCHES)
    delays = []
    for ear in heard:
        before = [m["at"] for m in spoken if m["pitch"] == ear["pitch"] and 0 < ear["at"] - m["at"] < window_s * 1000]
        if before:
            delays.append((ear["at"] - max(before)) / 1000)
    return delays


async def run(beeps: int, timeout_s: float, added_latency_ms: float, protocol: str = "chunked") -> list[float]:
    with tempfile.TemporaryDirectory(prefix="townhall-latency-") as tmp_dir:
        tmp = Path(tmp_dir)
        edge_port = free_port()
        settings = Settings(
            data_dir=tmp / "data", log_level="warning", listener_base_url=f"http://127.0.0.1:{edge_port}"
        )
        async with live_server(settings) as server:
            edge = Edge(Settings(edge_host="127.0.0.1", edge_requests_per_ip=0), server.runtime.keys.keys,
                        credential=server.runtime.edge_secret, origin=server.url, port=edge_port)  # fmt: skip
            await edge.astart()
            try:
                async with browsers(tmp, "browser_latency", report=False) as chromium:
                    return await measure(chromium, server.url, tmp, beeps, timeout_s, added_latency_ms, protocol)
            finally:
                await edge.astop()


async def measure(
    chromium: object, url: str, tmp: Path, beeps: int, timeout_s: float, added_latency_ms: float, protocol: str
) -> list[float]:
    b = chromium
    host = await b.page("host", await b.launch(beeps_wav(tmp / "beeps.wav")), f"{url}/studio")  # type: ignore[attr-defined]
    await host.fill("#signin-handle", "latency_host")
    await host.fill("#signin-password", "latency-password")
    await host.click("#register")
    await host.fill("#new-title", "Beeps at known times")
    await host.click("#create")
    await host.click("#golive")
    await host.locator("#room[data-on-air='true']").wait_for(timeout=20_000)
    link = await host.input_value("#share-link")
    await host.evaluate(DETECT_JS, [None, list(PITCHES)])

    context = await (await b.launch()).new_context()  # type: ignore[attr-defined]
    listener = await context.new_page()
    await listener.goto(f"{link}?play=hls" if protocol == "hls" else link)
    if added_latency_ms:
        cdp = await listener.context.new_cdp_session(listener)
        await cdp.send("Network.enable")
        conditions = {"offline": False, "latency": added_latency_ms, "downloadThroughput": -1, "uploadThroughput": -1}
        await cdp.send("Network.emulateNetworkConditions", conditions)
    await listener.locator("#play:not([disabled])").wait_for(timeout=20_000)
    await press_listen(listener)
    await listener.evaluate(DETECT_JS, ["#audio", list(PITCHES)])
    await asyncio.sleep(5)  # let the player settle at its live distance before counting
    await listener.evaluate("window.__onsets.length = 0")
    # stalls as the listener hears them: the element's `waiting` events (dash.js's BUFFER_EMPTY is not one),
    # caught on their way down from the document (listeners on the element go with a replaced dash.js)
    await listener.evaluate(
        "window.__waiting = 0; document.addEventListener('waiting', () => window.__waiting++, { capture: true })"
    )
    started = time.monotonic()

    async def enough() -> list[float] | None:
        spoken = await host.evaluate("window.__onsets")
        heard = await listener.evaluate("window.__onsets")
        delays = match(spoken, heard)
        return delays if len(delays) >= beeps else None

    delays: list[float] = await until(enough, timeout_s, f"{beeps} beeps heard", every_s=1.0)
    state = await listener.evaluate(PLAYER_STATE_JS)
    print(f"{state['kind']} after {time.monotonic() - started:.0f}s: its own latency estimate {state['latency']:.2f}s, "
          f"target {state['target']:.2f}s, {state['waiting']} waiting events")  # fmt: skip
    return delays


PLAYER_STATE_JS = """
(() => {
  const p = window.townhall.player;
  if (p.kind === "dash.js" && p.player) {
    const target = p.player.getSettings().streaming.delay.liveDelay;
    return { kind: p.kind, latency: p.player.getCurrentLiveLatency(), target, waiting: window.__waiting };
  }
  return { kind: p.kind, latency: p.hls.latency, target: p.hls.targetLatency, waiting: window.__waiting };
})()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beeps", type=int, default=36, help="beeps to measure (at least 30)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for them")
    parser.add_argument("--added-latency-ms", type=float, default=0.0, help="delay on each listener request")
    parser.add_argument("--protocol", choices=("chunked", "hls"), default="chunked", help="the path the page plays")
    args = parser.parse_args()
    delays = asyncio.run(run(max(30, args.beeps), args.timeout, args.added_latency_ms, args.protocol))
    ordered = sorted(delays)
    p50 = statistics.median(ordered)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    print(f"delays (s): {' '.join(f'{d:.3f}' for d in ordered)}")
    extra = f" ({args.protocol}) with {args.added_latency_ms:.0f} ms added per request" if args.added_latency_ms else ""
    extra = extra or f" ({args.protocol})"
    print(f"mouth-to-ear through the edge{extra}: p50 {p50:.3f} s, p95 {p95:.3f} s over {len(ordered)} beeps "
          f"(goal p50 <= 1.5 s, p95 <= 2.0 s)")  # fmt: skip


if __name__ == "__main__":
    main()
