"""Driving real headless Chromium for the browser tests and the latency benchmark: launching it with a
fake microphone playing a WAV the caller makes, reading what a page hears, and polling to a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.support import wait

CHROMIUM = "/usr/bin/chromium"
RATE = 48_000
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"


def chromium_args(wav: Path) -> list[str]:
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
    ]


def write_wav(path: Path, samples: np.ndarray) -> Path:
    """16-bit mono PCM at 48 kHz (Chromium loops the file as the fake microphone)."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return path


def tone_wav(path: Path, hz: float, seconds: float = 10.0, level: float = 0.5) -> Path:
    """A steady tone, pulsed 400 ms on / 100 ms off so voice processing keeps treating it as speech."""
    t = np.arange(int(RATE * seconds)) / RATE
    gate = ((t % 0.5) < 0.4).astype(np.float64)
    return write_wav(path, level * gate * np.sin(2 * np.pi * hz * t))


def until(condition: Callable[[], Awaitable[Any]], timeout_s: float, what: str, every_s: float = 0.2) -> Any:
    """The shared poll (tests/support/wait.py) at a page's pace, where an exception (a page mid-navigation,
    say) only means not yet."""
    return wait.until(condition, timeout_s, what, every_s, ignoring=(Exception,))


# Installed into a page: an analyser on the element that plays the space, measuring how loud it is
# (RMS in dBFS) and how loud it is around given frequencies.
LISTEN_JS = """
([selector, freqs]) => {
  const audio = document.querySelector(selector);
  const ears = (window.__ears = window.__ears || {});
  if (!ears[selector] || (audio.srcObject && ears[selector].stream !== audio.srcObject)) {
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0;
    if (audio.srcObject) {
      // a WebRTC stream (the mix-minus): tap the stream; the element goes on playing it
      ctx.createMediaStreamSource(audio.srcObject).connect(analyser);
    } else {
      const source = ctx.createMediaElementSource(audio);
      source.connect(analyser);
      analyser.connect(ctx.destination);
    }
    ears[selector] = { ctx, analyser, stream: audio.srcObject };
  }
  const { ctx, analyser } = ears[selector];
  if (ctx.state !== "running") ctx.resume();
  const time = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(time);
  let sum = 0;
  for (const v of time) sum += v * v;
  const rms = Math.sqrt(sum / time.length);
  const spectrum = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(spectrum);
  const bin = ctx.sampleRate / analyser.fftSize;
  const bands = {};
  for (const f of freqs) {
    let peak = -Infinity;
    const centre = Math.round(f / bin);
    for (let i = centre - 3; i <= centre + 3; i++) peak = Math.max(peak, spectrum[i]);
    bands[f] = peak;
  }
  return { dbfs: rms > 0 ? 20 * Math.log10(rms) : -200, bands, paused: audio.paused, time: audio.currentTime };
}
"""


# What the page's player is doing, for the report of a failed test.
AUDIO_STATE_JS = """
(() => {
  const a = document.querySelector("#audio");
  if (!a) return null;
  const b = [];
  for (let i = 0; i < a.buffered.length; i++) b.push([a.buffered.start(i).toFixed(2), a.buffered.end(i).toFixed(2)]);
  const player = window.townhall && window.townhall.player;
  const hls = player && player.hls;
  const dash = player && player.player;
  return { paused: a.paused, time: a.currentTime.toFixed(2), ready: a.readyState, buffered: b,
           player: player ? player.kind : null,
           latency: hls ? hls.latency : dash ? dash.getCurrentLiveLatency() : null,
           pressed: document.querySelector("#play") && document.querySelector("#play").getAttribute("aria-pressed") };
})()
"""


@dataclass
class Ear:
    """What a page hears on one element, by frequency band."""

    page: Any
    selector: str
    freqs: tuple[float, ...]

    async def sample(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.page.evaluate(LISTEN_JS, [self.selector, list(self.freqs)])
        return result

    async def band(self, hz: float) -> float:
        return float((await self.sample())["bands"][str(int(hz))])

    async def hears(self, hz: float, timeout_s: float, above_db: float = -45.0) -> float:
        """Wait until the tone at `hz` is clearly present; returns its level."""

        async def loud() -> float | None:
            level = await self.band(hz)
            return level if level > above_db else None

        return float(await until(loud, timeout_s, f"{hz:.0f} Hz above {above_db} dB on {self.selector}"))

    async def silent(self, hz: float, timeout_s: float, below_db: float = -55.0, held_s: float = 1.0) -> None:
        """Wait until the tone at `hz` has stayed below `below_db` for `held_s` seconds."""
        quiet_since: list[float | None] = [None]

        async def quiet() -> bool:
            level = await self.band(hz)
            now = time.monotonic()
            if level >= below_db:
                quiet_since[0] = None
                return False
            if quiet_since[0] is None:
                quiet_since[0] = now
            return now - quiet_since[0] >= held_s

        await until(quiet, timeout_s, f"{hz:.0f} Hz below {below_db} dB for {held_s}s on {self.selector}", 0.1)


@dataclass
class Browsers:
    """Chromium processes, each with its own fake microphone, and the pages opened in them."""

    playwright: Any
    tmp: Path
    test_name: str
    launched: list[Any] = field(default_factory=list)
    pages: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    async def launch(self, wav: Path | None = None) -> Any:
        wav = wav or tone_wav(self.tmp / f"silence-{len(self.launched)}.wav", 440, seconds=1.0, level=0.0)
        browser = await self.playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=chromium_args(wav)
        )
        self.launched.append(browser)
        return browser

    async def page(self, name: str, browser: Any, url: str) -> Any:
        """A new context (its own storage, like another person) with one page at `url`."""
        context = await browser.new_context(viewport={"width": 1100, "height": 900})
        page = await context.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{name}: {exc}"))
        page.on("console", lambda msg: self.console.append(f"{name} {msg.type}: {msg.text}"[:300]))
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        self.pages[name] = page
        await page.goto(url)
        return page

    async def screenshots(self, report: bool) -> None:
        """Save each page as a test artefact; with `report`, print what each page said and did (pytest shows
        it when the test fails)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", self.test_name)
        for name, page in self.pages.items():
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(ARTIFACTS / f"{safe}-{name}.png"), full_page=True)
                if report:
                    print(f"{name}: status {await page.locator('#status').first.text_content(timeout=1000)!r}")
                    print(f"{name}: audio {await page.evaluate(AUDIO_STATE_JS)}")
        if report:
            print("\n".join(self.console[-60:]))

    async def close(self) -> None:
        for browser in self.launched:
            with contextlib.suppress(Exception):
                await browser.close()


@contextlib.asynccontextmanager
async def browsers(tmp: Path, test_name: str, report: bool = True) -> AsyncIterator[Browsers]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = Browsers(pw, tmp, test_name)
        try:
            yield b
        finally:
            await b.screenshots(report)
            await b.close()


async def press_listen(page: Any, press: Callable[[], Awaitable[None]] | None = None) -> None:
    """Press Listen until the page plays: the button toggles, and a slow autoplay may finish after a press."""
    pressed_at = [0.0]

    async def playing() -> bool:
        if await page.get_attribute("#play", "aria-pressed") == "true":
            return True
        if time.monotonic() - pressed_at[0] > 5 and await page.locator("#play").is_enabled():
            pressed_at[0] = time.monotonic()
            await (press() if press is not None else page.click("#play"))
        return False

    await until(playing, 30, "the page playing after pressing Listen")
