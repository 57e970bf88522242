// The front page: live and scheduled spaces, refreshed every few seconds. Read-only; no account needed.

import { $, api, el, formatTime, showError } from "./common.js";

const REFRESH_MS = 5000;

function item(space) {
  return el(
    "li",
    { "data-space": space.id },
    el("span", { class: `badge ${space.state}` }, space.state),
    el("a", { href: `/s/${encodeURIComponent(space.id)}` }, space.title),
    el("span", { class: "muted" }, space.host ? ` with @${space.host}` : ""),
    space.state === "scheduled" && space.scheduled_start ? el("span", { class: "muted" }, ` · ${formatTime(space.scheduled_start)}`) : "",
  );
}

function fill(list, spaces, empty) {
  const items = spaces.map(item);
  if (items.length === 0) items.push(el("li", { class: "muted" }, empty));
  list.replaceChildren(...items);
}

async function refresh() {
  try {
    const found = await api("/api/spaces?state=live,scheduled&limit=100");
    fill($("#live"), found.spaces.filter((s) => s.state === "live"), "Nothing live right now.");
    const scheduled = found.spaces.filter((s) => s.state === "scheduled");
    scheduled.sort((a, b) => (a.scheduled_start || Infinity) - (b.scheduled_start || Infinity));
    fill($("#scheduled"), scheduled, "Nothing scheduled.");
    showError($("#index-error"), null);
  } catch (err) {
    showError($("#index-error"), err);
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
