// Playing HLS into an <audio> element: hls.js (vendored, global `Hls`) where the browser has Media Source
// Extensions, the browser's own HLS elsewhere (Safari on iPhone). Never sets liveSyncDuration: in low-latency
// mode it would override PART-HOLD-BACK (see /work/shared/specs/latency.md).

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

// Attach `url` to `audio`; `onFatal(status)` is called when playback cannot continue: the HTTP status of
// the request that failed (0 for a network failure, -1 when the browser cannot play HLS at all).
export function attach(audio, url, config, onFatal) {
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
