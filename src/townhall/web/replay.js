// The replay page (/r/<space>): plays the published replay with a seek bar and checks, in the browser, that
// it is what was heard live (signature, hash chain, each segment's bytes). Counts plays by beacon.

import { $, api, deviceId, el, formatTime, refusal } from "./common.js";
import { embedded, watchViews } from "./views.js";
import { REPLAY_CONFIG, attach, checkedLoader } from "./player.js";
import { transport } from "./transport.js";
import { ReplayCheck } from "./verify.js";

const RETRY_MS = 3000;
const BEACON_EVERY_S = 30;
const spaceId = decodeURIComponent(location.pathname.split("/")[2] || "");
watchViews($("section.card.player"), { space_id: spaceId, surface: embedded() ? "embed" : "space_page" });
const audio = $("#audio");
const page = { info: null, check: null, player: null, lastBeacon: 0, played: 0 };
window.townhall = page;

function setStatus(text) {
  $("#status").textContent = text;
}

function showCheck(check) {
  const line = $("#verify");
  line.textContent = check.summary();
  line.className = `verify ${check.verified ? "ok" : "bad"}`;
  line.dataset.verified = check.verified ? "true" : "false";
  $("#problems").replaceChildren(...check.problems.map((p) => el("li", {}, p)));
}

// A file the player loaded is not what was signed: load and play nothing more, and say so.
function stopPlayback(controls) {
  if (page.player && page.player.hls) page.player.hls.stopLoad();
  audio.pause();
  controls.play.disabled = true;
  controls.seek.disabled = true;
  setStatus("Playback stopped: part of this replay is not what was signed (see below), so it is not played.");
}

// The replay's evidence, shown as soon as it is checked, and a check hls.js runs on the bytes of every file it
// loads, before it plays them (hls.js hands the bytes on to its transmuxer, detached, once it has them).
function evidence(info, controls) {
  const loaded = ReplayCheck.load(info).then((check) => {
    page.check = check;
    check.onChange(showCheck);
    showCheck(check);
    return check;
  });
  loaded.catch((err) => {
    $("#verify").textContent = `The evidence could not be fetched: ${err.message}`;
  });
  const beforePlaying = async (url, bytes) => {
    const check = await loaded.catch(() => null);
    if (!check) return true; // the page says the evidence could not be fetched: it plays, unchecked
    const ok = await check.segment(url, bytes);
    if (!ok) stopPlayback(controls);
    return ok;
  };
  return { loaded, beforePlaying };
}

async function beacon() {
  // Seconds played, rounded; the counting rules decide what makes a play (once per viewer).
  const played = Math.floor(page.played);
  if (played <= page.lastBeacon) return;
  page.lastBeacon = played;
  const id = `${deviceId().slice(0, 16)}${spaceId}`.slice(0, 64).replace(/[^A-Za-z0-9_-]/g, "_");
  try {
    await api("/api/beacons", {
      method: "POST",
      keepalive: true,
      body: { device_id: deviceId(), events: [{ id: `${id}-${played}`.slice(0, 64), type: "replay_play", space_id: spaceId, played_s: played }] },
    });
  } catch {
    // counting is best effort from here; the replay plays on
  }
}

// Why there is no replay to play (yet), or null when it may be fetched.
function notYet(space) {
  if (!space) return null;
  if (!space.recording) return { final: true, text: "This space was not recorded, so it has no replay." };
  if (!space.replay_public) return { final: true, text: "The host chose not to publish this replay." };
  if (space.state !== "ended") {
    return { final: false, text: "The space has not ended yet; its replay appears here once it has. " };
  }
  return null;
}

async function load() {
  let space = null;
  try {
    space = await api(`/api/spaces/${encodeURIComponent(spaceId)}`);
    $("#title").textContent = space.title;
    document.title = `${space.title} · replay · townhall`;
    if (space.ended_at) $("#when").textContent = `recorded ${formatTime(space.started_at)}`;
  } catch (err) {
    if (err.status === 404) return setStatus("There is no such space. Check the link.");
  }
  const reason = notYet(space);
  if (reason) {
    setStatus(reason.text);
    $("#verify").textContent = "";
    if (!reason.final) {
      $("#status").append(el("a", { href: `/s/${encodeURIComponent(spaceId)}` }, "Listen live"));
      setTimeout(load, RETRY_MS * 5);
    }
    return;
  }
  let info;
  try {
    info = await api(`/api/spaces/${encodeURIComponent(spaceId)}/replay`);
  } catch (err) {
    if (err.code === "replay_not_ready" || err.code === "replay_not_found") {
      setStatus("The replay is being published; this page opens it as soon as it is ready.");
      setTimeout(load, RETRY_MS);
      return;
    }
    setStatus(refusal(err));
    $("#verify").textContent = "";
    return;
  }
  page.info = info;
  setStatus(`${Math.round(info.duration_s)} seconds recorded, published ${formatTime(info.published_at)}.`);
  $("#download-link").href = info.audio_url;
  $("#download").hidden = false;
  const controls = transport($("#transport"), audio, info.duration_s);
  const { loaded, beforePlaying } = evidence(info, controls);
  const Hls = window.Hls;
  const config = Hls ? { ...REPLAY_CONFIG, fLoader: checkedLoader(Hls.DefaultConfig.loader, beforePlaying) } : REPLAY_CONFIG;
  page.player = attach(audio, info.playlist_url, config, (code) => setStatus(`The replay cannot be played (${code}).`));
  audio.addEventListener("timeupdate", () => {
    if (!audio.paused) page.played = Math.max(page.played, audio.currentTime);
    if (page.played - page.lastBeacon >= BEACON_EVERY_S) beacon();
  });
  window.addEventListener("pagehide", beacon);
  try {
    await loaded;
  } catch {
    return;
  }
  const all = $("#check-all");
  all.hidden = false;
  all.addEventListener("click", async () => {
    all.disabled = true;
    $("#verify").textContent = "Checking every segment…";
    await page.check.checkAll(info.playlist_url);
    all.disabled = false;
  });
}

load();
