// Views: an impression beacon each time a space's card is actually seen, by the viewable-impression rule
// (at least half of it on screen for one continuous second; ../shared/specs/trust-and-views.md §9). Not
// unique, like X's views: seen again after leaving the screen, it counts again. Embeds are their own surface
// (stored apart, never added to views). Views are never listens: joining is counted by the server alone.

import { api, deviceId, session } from "./common.js";

const VISIBLE = 0.5; // share of the card on screen
const SEEN_MS = 1000; // for this long without a break
const BATCH_MS = 10000; // at most one beacon request per this long (the first goes at once)
const GATHER_MS = 200; // cards that appear together go in one request

const queue = [];
let timer = null;
let lastSent = -Infinity;

function eventId() {
  const raw = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}${Math.random()}`;
  return `v${raw.replace(/[^A-Za-z0-9]/g, "")}`.slice(0, 64);
}

function flush(keepalive = false) {
  timer = null;
  if (queue.length === 0) return;
  const events = queue.splice(0, 100);
  lastSent = performance.now();
  const me = session();
  api("/api/beacons", { method: "POST", keepalive, auth: me ? me.token : undefined, body: { device_id: deviceId(), events } }).catch(() => {});
  if (queue.length) schedule(); // more than one request's worth: the rest after the batch window
}

function schedule() {
  if (timer !== null) return;
  const wait = Math.max(GATHER_MS, lastSent + BATCH_MS - performance.now());
  timer = setTimeout(flush, wait);
}

addEventListener("pagehide", () => flush(true));

// Queue one event for the batched beacon (shared with clip plays, so one page sends one request at a time).
export function beacon(event) {
  queue.push({ id: eventId(), ...event });
  schedule();
}

// Whether this page is shown inside another site's page (an embed), or was asked to be one.
export function embedded() {
  if (location.pathname.startsWith("/embed/") || new URLSearchParams(location.search).has("embed")) return true;
  try {
    return window.self !== window.top;
  } catch (err) {
    return true; // a cross-origin parent: certainly an embed
  }
}

// Count a view of `card` (an element) each time it is seen by the rule above. `what` is
// {space_id, surface, clip_id?}. Returns a function that stops watching.
export function watchViews(card, what) {
  let since = null; // when the current continuous sighting began
  let counted = false; // this sighting has already counted
  let wait = null;

  const stop = () => {
    if (wait !== null) clearTimeout(wait);
    wait = null;
    since = null;
  };
  const start = () => {
    if (since !== null || counted || document.visibilityState !== "visible") return;
    since = performance.now();
    wait = setTimeout(() => {
      wait = null;
      counted = true;
      beacon({ type: "impression", ...what });
      card.dataset.views = String(Number(card.dataset.views || 0) + 1);
    }, SEEN_MS);
  };

  let inView = false;
  const observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        inView = entry.isIntersecting && entry.intersectionRatio >= VISIBLE;
        if (inView) start();
        else {
          stop();
          counted = false; // out of view: the next sighting is a new view
        }
      }
    },
    { threshold: [0, VISIBLE, 1] },
  );
  const visibility = () => {
    if (document.visibilityState !== "visible") stop();
    else if (inView) start();
  };
  document.addEventListener("visibilitychange", visibility);
  observer.observe(card);
  return () => {
    stop();
    observer.disconnect();
    document.removeEventListener("visibilitychange", visibility);
  };
}
