// Play/pause, a seek bar and the time, for recorded audio (replays and clips). Keyboard: the seek bar takes
// arrow keys (5 s) and Page Up/Down; the button is a toggle announced as pressed while playing.

import { el } from "./common.js";

const clock = (s) => {
  if (!Number.isFinite(s)) return "0:00";
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
};

export function transport(container, audio, durationHint = 0) {
  const play = el("button", { type: "button", id: "play", "aria-pressed": "false" }, "Play");
  const seek = el("input", {
    type: "range",
    id: "seek",
    min: "0",
    max: String(durationHint || 0),
    step: "0.1",
    value: "0",
    "aria-label": "Position in the recording",
  });
  const time = el("span", { id: "time", class: "muted" }, `0:00 / ${clock(durationHint)}`);
  let dragging = false;
  const duration = () => (Number.isFinite(audio.duration) && audio.duration > 0 ? audio.duration : durationHint);
  const show = () => {
    seek.max = String(duration());
    if (!dragging) seek.value = String(audio.currentTime);
    seek.setAttribute("aria-valuetext", `${clock(audio.currentTime)} of ${clock(duration())}`);
    time.textContent = `${clock(audio.currentTime)} / ${clock(duration())}`;
  };
  play.addEventListener("click", () => {
    if (audio.paused) audio.play().catch(() => {});
    else audio.pause();
  });
  seek.addEventListener("input", () => {
    dragging = true;
    time.textContent = `${clock(Number(seek.value))} / ${clock(duration())}`;
  });
  seek.addEventListener("change", () => {
    dragging = false;
    audio.currentTime = Number(seek.value);
  });
  seek.addEventListener("keydown", (e) => {
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      e.preventDefault();
      audio.currentTime = Math.max(0, Math.min(duration(), audio.currentTime + (e.key === "ArrowRight" ? 5 : -5)));
    }
  });
  for (const name of ["timeupdate", "durationchange", "loadedmetadata", "seeked"]) audio.addEventListener(name, show);
  audio.addEventListener("playing", () => {
    play.setAttribute("aria-pressed", "true");
    play.textContent = "Pause";
  });
  audio.addEventListener("pause", () => {
    play.setAttribute("aria-pressed", "false");
    play.textContent = "Play";
  });
  container.replaceChildren(el("div", { class: "row" }, play, seek, time));
  container.hidden = false;
  return { play, seek };
}
