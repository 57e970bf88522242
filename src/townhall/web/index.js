// The front page: live and scheduled spaces, refreshed every few seconds. Read-only; no account needed.

import { $, api, el, formatTime, showError } from "./common.js";
import { watchViews } from "./views.js";

const REFRESH_MS = 5000;

// One element per space, kept across refreshes: a card seen once is one view, not one per refresh.
const cards = new Map(); // space id -> {node, stop}

function item(space) {
  const card = el(
    "li",
    { "data-space": space.id },
    el("span", { class: `badge ${space.state}` }, space.state),
    el("a", { href: `/s/${encodeURIComponent(space.id)}` }, space.title),
    el("span", { class: "muted" }, space.host ? ` with @${space.host}` : ""),
    space.state === "scheduled" && space.scheduled_start ? el("span", { class: "muted" }, ` · ${formatTime(space.scheduled_start)}`) : "",
  );
  const known = cards.get(space.id);
  if (known) {
    known.node.replaceChildren(...card.childNodes);
    return known.node;
  }
  cards.set(space.id, { node: card, stop: watchViews(card, { space_id: space.id, surface: "share_card" }) });
  return card;
}

function forget(shown) {
  for (const [id, card] of cards) {
    if (!shown.has(id)) {
      card.stop();
      cards.delete(id);
    }
  }
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
    // Coming up: spaces with a start time; one created without a schedule waits for its host, unlisted.
    const scheduled = found.spaces.filter((s) => s.state === "scheduled" && s.scheduled_start);
    scheduled.sort((a, b) => (a.scheduled_start || Infinity) - (b.scheduled_start || Infinity));
    fill($("#scheduled"), scheduled, "Nothing scheduled.");
    forget(new Set(found.spaces.map((s) => s.id)));
    showError($("#index-error"), null);
  } catch (err) {
    showError($("#index-error"), err);
  }
  setTimeout(refresh, REFRESH_MS);
}

refresh();
