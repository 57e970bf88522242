// Playing a live space into an <audio> element. By default low-latency DASH with chunked CMAF (dash.js: chunked.js);
// LL-HLS in hls.js (vendored, global `Hls`) where the page asks for it (`?play=hls`), where Media Source Extensions
// or dash.js fail; the browser's own HLS elsewhere (Safari on iPhone). hls.js never sets liveSyncDuration: in
// low-latency mode it would override PART-HOLD-BACK (see /work/shared/specs/latency.md).

import { attachChunked, canPlayChunked } from "./chunked.js";

// The settings measured best for LL-HLS: target PART-HOLD-BACK, catch up a little after a stall, and no
// permanent extra delay per stall.
export const LIVE_CONFIG = {
  lowLatencyMode: true,
  maxLiveSyncPlaybackRate: 1.2,
  liveSyncOnStallIncrease: 0,
  backBufferLength: 30,
};

export const REPLAY_CONFIG = { lowLatencyMode: false };

// Chromium-based browsers report `userAgentData` and may claim native HLS without low-latency support;
// there hls.js does better. Safari (no userAgentData) plays LL-HLS natively, preload hints included.
function prefersNative(audio) {
  return Boolean(audio.canPlayType("application/vnd.apple.mpegurl")) && !("userAgentData" in navigator);
}

// A fragment loader (hls.js `fLoader`) that hands hls.js a file's bytes only once `check(url, bytes)` has
// resolved true. hls.js transfers the bytes to its transmuxer the moment it has them, so anything that must
// see them (the replay's per-segment hash) sees them here, first; bytes that fail the check are never played.
export function checkedLoader(Base, check) {
  return class CheckedLoader {
    constructor(config) {
      this.inner = new Base(config);
      this.closed = false;
    }

    get stats() {
      return this.inner.stats;
    }

    set stats(value) {
      this.inner.stats = value;
    }

    get context() {
      return this.inner.context;
    }

    load(context, config, callbacks) {
      const progress = []; // held back with the bytes until they pass
      const wrapped = {
        ...callbacks,
        onSuccess: (response, stats, ctx, details) => this.pass(progress, callbacks, [response, stats, ctx, details]),
      };
      if (callbacks.onProgress) wrapped.onProgress = (...args) => progress.push(args);
      this.inner.load(context, config, wrapped);
    }

    async pass(progress, callbacks, success) {
      const chunks = progress.map((args) => args[2]);
      const bytes = chunks.length ? joined(chunks) : success[0].data;
      const ok = await check(success[2].url, bytes);
      if (!ok || this.closed) return;
      for (const args of progress) callbacks.onProgress(...args);
      callbacks.onSuccess(...success);
    }

    abort() {
      this.closed = true;
      this.inner.abort();
    }

    destroy() {
      this.closed = true;
      this.inner.destroy();
    }

    getCacheAge() {
      return this.inner.getCacheAge ? this.inner.getCacheAge() : null;
    }

    getResponseHeader(name) {
      return this.inner.getResponseHeader ? this.inner.getResponseHeader(name) : null;
    }
  };
}

// One buffer from the chunks a progressive loader delivered (one chunk, the whole file, for XHR).
function joined(chunks) {
  if (chunks.length === 1) return chunks[0];
  const views = chunks.map((c) => (c instanceof ArrayBuffer ? new Uint8Array(c) : new Uint8Array(c.buffer, c.byteOffset, c.byteLength)));
  const out = new Uint8Array(views.reduce((n, v) => n + v.length, 0));
  let at = 0;
  for (const v of views) {
    out.set(v, at);
    at += v.length;
  }
  return out;
}

// Attach `url` to `audio`; `onFatal(status)` is called when playback cannot continue: the HTTP status of
// the request that failed (0 for a network failure, -1 when the browser cannot play HLS at all).
export function attach(audio, url, config, onFatal) {
  // Live (LIVE_CONFIG, possibly extended by the page) plays chunked CMAF unless the page asks for LL-HLS
  // (`?play=hls`) or the browser cannot; replays stay on HLS.
  if (config.lowLatencyMode && url.endsWith("/master.m3u8") && chunkedWanted(audio)) {
    const mpd = url.replace(/master\.m3u8$/, "chunked.mpd");
    return attachChunked(audio, mpd, rewriter(config), () => attachHls(audio, url, config, onFatal));
  }
  return attachHls(audio, url, config, onFatal);
}

function chunkedWanted(audio) {
  return new URLSearchParams(location.search).get("play") !== "hls" && canPlayChunked() && !prefersNative(audio);
}

// The page's hls.js `xhrSetup` (it puts the seat's newest token in each URL) as a URL rewrite for dash.js.
function rewriter(config) {
  if (typeof config.xhrSetup !== "function") return (url) => url;
  return (url) => {
    let out = url;
    config.xhrSetup({ open: (_method, rewritten) => (out = rewritten), setRequestHeader() {} }, url);
    return out;
  };
}

function attachHls(audio, url, config, onFatal) {
  const Hls = window.Hls;
  if (Hls && Hls.isSupported() && !prefersNative(audio)) {
    const hls = new Hls(config);
    hls.on(Hls.Events.ERROR, (_event, data) => {
      console.warn("hls.js", data.fatal ? "fatal" : "recovering", data.type, data.details, data.response && data.response.code);
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else onFatal((data.response && data.response.code) || 0);
    });
    hls.loadSource(url);
    hls.attachMedia(audio);
    return {
      kind: "hls.js",
      hls,
      destroy() {
        hls.destroy();
        audio.removeAttribute("src");
      },
    };
  }
  if (audio.canPlayType("application/vnd.apple.mpegurl")) {
    audio.src = url;
    audio.addEventListener("error", () => onFatal(0), { once: true });
    return {
      kind: "native",
      hls: null,
      destroy() {
        audio.removeAttribute("src");
        audio.load();
      },
    };
  }
  onFatal(-1);
  return null;
}
