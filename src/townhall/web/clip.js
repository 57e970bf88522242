// The clip page (/c/<clip>): plays a clip with a seek bar and checks it in the browser: the audio's SHA-256
// against the clip record, and each segment it was cut from against the replay's signed manifest.

import { $, api, el, refusal } from "./common.js";
import { transport } from "./transport.js";
import { beacon, embedded, watchViews } from "./views.js";
import { ReplayCheck, sha256hex } from "./verify.js";

const clipId = decodeURIComponent(location.pathname.split("/")[2] || "");
const audio = $("#audio");
const page = { clip: null };
window.townhall = page;

function verdict(ok, text, problems = []) {
  const line = $("#verify");
  line.textContent = text;
  line.className = `verify ${ok ? "ok" : "bad"}`;
  line.dataset.verified = ok ? "true" : "false";
  $("#problems").replaceChildren(...problems.map((p) => el("li", {}, p)));
}

async function check(clip, bytes) {
  const problems = [];
  if ((await sha256hex(bytes)) !== clip.sha256) problems.push("the clip's audio does not match the SHA-256 recorded when it was cut");
  let replay = "";
  try {
    const info = await api(`/api/spaces/${encodeURIComponent(clip.space_id)}/replay`);
    const evidence = await ReplayCheck.load(info);
    problems.push(...evidence.problems);
    const signed = new Set(evidence.payload.segments.map((s) => s.sha256));
    for (const s of clip.segments) {
      if (!signed.has(s.sha256)) problems.push(`segment ${s.msn} it was cut from is not in the replay's signed manifest`);
    }
    replay = ` and its ${clip.segments.length} source segment(s) are in the replay's signed hash chain`;
  } catch (err) {
    replay = " (the replay's signed manifest is not published yet, so its source segments are not checked)";
  }
  if (problems.length) verdict(false, `NOT verified: ${problems[0]}`, problems);
  else verdict(true, `Verified: the audio matches its recorded SHA-256${replay}.`);
}

const PLAY_AFTER_S = 2; // a clip play counts after this many continuous seconds (the clip_plays rule)

// One clip_play per play, once it has run PLAY_AFTER_S seconds without a pause, seek or stall; a play
// that ends (or is restarted) can count again, which the server de-duplicates per viewer and day.
function countPlays(clip) {
  let runFrom = null; // media time the current continuous run began at
  let counted = false;
  const reset = () => {
    runFrom = null;
  };
  audio.addEventListener("playing", () => {
    runFrom = audio.currentTime;
  });
  for (const name of ["pause", "seeking", "waiting", "emptied"]) audio.addEventListener(name, reset);
  audio.addEventListener("ended", () => {
    reset();
    counted = false;
  });
  audio.addEventListener("timeupdate", () => {
    if (runFrom === null || counted || audio.paused) return;
    const run = audio.currentTime - runFrom;
    if (run >= PLAY_AFTER_S) {
      counted = true;
      beacon({ type: "clip_play", space_id: clip.space_id, clip_id: clipId, continuous_s: Math.round(run * 100) / 100 });
      document.body.dataset.clipPlay = "sent";
    }
  });
}

async function load() {
  let clip;
  try {
    clip = await api(`/api/clips/${encodeURIComponent(clipId)}`);
  } catch (err) {
    $("#title").textContent = "Clip unavailable";
    $("#status").textContent = err.status === 404 ? "There is no such clip. Check the link." : refusal(err);
    $("#verify").textContent = "";
    return;
  }
  page.clip = clip;
  $("#title").textContent = clip.title || "A clip";
  document.title = `${clip.title || "Clip"} · townhall`;
  $("#length").textContent = `${Math.round(clip.duration_s)} s from a ${clip.source === "live" ? "live space" : "replay"}`;
  $("#space-link").href = clip.space_url;
  $("#replay-link").href = clip.replay_page_url;
  $("#links").hidden = false;
  const bytes = await (await fetch(clip.audio_url)).arrayBuffer();
  audio.src = URL.createObjectURL(new Blob([bytes], { type: "audio/mp4" }));
  transport($("#transport"), audio, clip.duration_s);
  watchViews($("section.card.player"), { space_id: clip.space_id, clip_id: clipId, surface: embedded() ? "embed" : "clip_page" });
  countPlays(clip);
  await check(clip, bytes);
}

load();
