// Low-latency DASH with chunked CMAF in dash.js (vendored, loaded on first use): one request per segment, each held
// open while the segment is made, so distance is paid once (decision 0011). The page watches the player by its
// latency, starts a fresh one when it stays behind, and hands over to LL-HLS when fresh ones do not help either.

// dash.js 5 has no low-latency switch: the MPD's availabilityTimeComplete="false" turns its chunked path on. The
// catch-up rates are offsets from 1.0 (max 0.2 = 1.2x), not rates (specs/chunked.md, traps 1 and 2). The target
// and the catch-up are decision 0011's.
export const CHUNKED_CONFIG = {
  streaming: {
    delay: { liveDelay: 0.5 },
    liveCatchup: { enabled: true, maxDrift: 2, playbackRate: { min: -0.1, max: 0.2 } },
    buffer: { bufferTimeDefault: 4, bufferToKeep: 10, bufferPruningInterval: 10 },
  },
  debug: { logLevel: 1 },
};

// The watch. dash.js rides out a short stall itself (it retries, then seeks back to the live point), but not a new
// run of the programme: after a media node's failover the MPD names a new Period with a later availabilityStartTime,
// and dash.js 5 keeps the old timeline, seconds behind, seeking several times a second to a live point it cannot
// reach, and raises no error. So the page judges a player by its latency, never by its errors alone.
const WATCH_MS = 500;
const LATE_S = 2.5; // the target plus maxDrift: beyond it dash.js should already have seeked back by itself
const LATE_FOR_MS = 3000; // that late (or not playing) for this long while the listener listens: a fresh player
const START_MS = 8000; // a fresh player's time to play near the target, from its MPD request
const FRESH_PLAYERS = 3; // fresh players in a row that never came near the target, then LL-HLS
const RETRY_MS = 1000; // before a fresh player, after one that failed before it played

const DASHJS_URL = new URL("./vendor/dash.mediaplayer.min.js", import.meta.url).href;
let dashjsLoading = null;

function loadDashjs() {
  if (window.dashjs) return Promise.resolve(window.dashjs);
  if (!dashjsLoading) {
    dashjsLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = DASHJS_URL;
      script.async = true;
      script.onload = () => (window.dashjs ? resolve(window.dashjs) : reject(new Error("dash.js did not load")));
      script.onerror = () => reject(new Error("dash.js did not load"));
      document.head.appendChild(script);
    });
    dashjsLoading.catch(() => (dashjsLoading = null));
  }
  return dashjsLoading;
}

// Media Source Extensions that take AAC in fMP4 (whether the page prefers the browser's own HLS is player.js's call).
export function canPlayChunked() {
  const MS = window.ManagedMediaSource || window.MediaSource;
  return Boolean(MS && MS.isTypeSupported && MS.isTypeSupported('audio/mp4; codecs="mp4a.40.2"'));
}

// dash.js 5.2.1 leaves one-shot listeners on the element after reset: a catch-up rate waiting for `canplay` while the
// buffer runs low (VideoModel.waitForReadyState). They read dash.js's element, null by then, and throw "Cannot set
// properties of null (setting 'playbackRate')" at the next player's first `canplay` on the same element. So the
// listeners on the element are kept track of while dash.js has it, and the returned function takes off what is left
// (the element is dash.js's alone meanwhile: anyone else listens on the document, in the capture phase).
function listenersOf(audio) {
  const held = [];
  const capture = (options) => Boolean(options && typeof options === "object" ? options.capture : options);
  const same = (type, listener, options) => (h) => h.type === type && h.listener === listener && h.capture === capture(options);
  audio.addEventListener = (type, listener, options) => {
    held.push({ type, listener, capture: capture(options) });
    EventTarget.prototype.addEventListener.call(audio, type, listener, options);
  };
  audio.removeEventListener = (type, listener, options) => {
    const at = held.findIndex(same(type, listener, options));
    if (at >= 0) held.splice(at, 1);
    EventTarget.prototype.removeEventListener.call(audio, type, listener, options);
  };
  return () => {
    delete audio.addEventListener;
    delete audio.removeEventListener;
    for (const h of held) audio.removeEventListener(h.type, h.listener, h.capture);
  };
}

function reason(e) {
  return (e && e.error && (e.error.message || e.error.code)) || "error";
}

// Attach the MPD at `mpdUrl` to `audio` with dash.js; `rewrite(url)` gives each request's URL (the newest token).
// If dash.js does not load, or fails before it has ever played, `fallback()` (LL-HLS) takes over at once and reports
// the HTTP status of a refusal (403, 451) as before. Once it has played, a player that stays behind (a stall it does
// not ride out, a media node's failover) is replaced by a fresh one at the live edge, without a reload; after
// FRESH_PLAYERS of them in a row that never come near the target, LL-HLS takes over.
export function attachChunked(audio, mpdUrl, rewrite, fallback) {
  let current = null; // {player, release, played}: the dash.js player now attached
  let everPlayed = false;
  let fresh = 0; // fresh players since one was last near the target
  let due = 0; // when the current player must be near the target, or be replaced
  let timer = null;
  const handle = {
    kind: "dash.js",
    player: null, // the current dash.js MediaPlayer (tests read its latency)
    inner: null, // LL-HLS, once it has taken over
    hls: null,
    closed: false,
    destroy() {
      this.closed = true;
      clearInterval(watch);
      clearTimeout(timer);
      detach();
      if (this.inner) this.inner.destroy();
      this.inner = null;
      audio.removeAttribute("src");
    },
  };

  function detach() {
    const session = current;
    current = handle.player = null;
    if (!session) return;
    session.player.destroy();
    session.release();
  }

  function handOver(why) {
    if (handle.closed || handle.inner) return;
    console.warn("dash.js", "falling back to LL-HLS:", why);
    clearInterval(watch);
    clearTimeout(timer);
    detach();
    handle.kind = "hls.js";
    handle.inner = fallback();
    if (handle.inner) handle.hls = handle.inner.hls;
  }

  function replace(why, afterMs = 0) {
    if (handle.closed || handle.inner) return;
    if (fresh >= FRESH_PLAYERS) return handOver(`${fresh} fresh players did not help: ${why}`);
    fresh += 1;
    console.warn("dash.js", `a fresh player (${fresh} of ${FRESH_PLAYERS}):`, why);
    const listening = !audio.paused;
    detach();
    timer = setTimeout(() => loadDashjs().then((dashjs) => start(dashjs, listening), (err) => handOver(err.message)), afterMs);
  }

  function start(dashjs, listening) {
    if (handle.closed || handle.inner) return;
    const player = dashjs.MediaPlayer().create();
    const events = dashjs.MediaPlayer.events;
    const session = { player, release: listenersOf(audio), played: false };
    current = session;
    handle.player = player;
    due = performance.now() + START_MS;
    // what dash.js reports is acted on outside its own call stack, and only while this player is the current one
    const act = (fn) => (e) => setTimeout(() => current === session && fn(e), 0);
    player.updateSettings(CHUNKED_CONFIG);
    player.addRequestInterceptor((request) => {
      request.url = rewrite(request.url);
      return Promise.resolve(request);
    });
    player.on(events.PLAYBACK_PLAYING, () => (session.played = everPlayed = true));
    const failed = act((e) => {
      if (!everPlayed) return handOver(reason(e)); // the chunked path does not work here
      if (!session.played) return replace(reason(e), RETRY_MS);
      console.warn("dash.js", "error:", reason(e)); // the watch judges whether it recovers
    });
    player.on(events.ERROR, failed);
    player.on(events.PLAYBACK_ERROR, failed);
    player.initialize(audio, rewrite(mpdUrl), listening); // a fresh player plays on if the listener was listening
  }

  const watch = setInterval(() => {
    if (!current) return;
    const now = performance.now();
    if (audio.paused) {
      due = Math.max(due, now + LATE_FOR_MS); // nothing to judge while the listener has paused (or not yet pressed Listen)
      return;
    }
    const latency = current.played ? current.player.getCurrentLiveLatency() : NaN;
    if (latency <= LATE_S) {
      due = now + LATE_FOR_MS;
      fresh = 0;
    } else if (now > due) {
      const why = Number.isNaN(latency) ? "not playing" : `${latency.toFixed(1)} s behind the live edge`;
      if (everPlayed) replace(why);
      else handOver(`never played: ${why}`); // the chunked path does not work here
    }
  }, WATCH_MS);

  loadDashjs().then(
    (dashjs) => start(dashjs, !audio.paused),
    (err) => handOver(err.message),
  );
  return handle;
}
