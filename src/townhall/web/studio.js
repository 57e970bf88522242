// The host studio (/studio): sign in, create or schedule a space, go live with the microphone over WHIP,
// answer requests to speak, invite, mute, move back, remove, cap the audience and end the space.
// Every action goes through the JSON API; live changes arrive over the space's event WebSocket.

import { $, announce, api, el, formatTime, openEvents, refusal, session, showError, signInForm, signOut } from "./common.js";
import { microphone, publish } from "./speaker.js";

const COUNTS_EVERY_MS = 2000;

const studio = {
  me: null,
  space: null,
  events: null,
  publication: null,
  reconnecting: false,
  muted: false,
  countsTimer: null,
};
window.townhall = studio;

const enc = encodeURIComponent;

function log(text) {
  const item = el("li", {}, el("time", {}, new Date().toLocaleTimeString()), " ", text);
  $("#log").prepend(item);
  while ($("#log").children.length > 50) $("#log").lastChild.remove();
}

function roomError(err) {
  showError($("#room-error"), err);
}

// --- signing in and the list of one's spaces ---------------------------------------------------------
function showSignIn() {
  $("#signin-card").hidden = false;
  $("#desk").hidden = true;
  $("#room").hidden = true;
  $("#who").textContent = "";
  signInForm($("#signin-box"), () => boot());
}

async function boot() {
  studio.me = session();
  if (!studio.me) return showSignIn();
  try {
    await api("/api/me", { auth: studio.me.token });
  } catch (err) {
    if (err.status === 401) {
      await signOut();
      return showSignIn();
    }
  }
  $("#signin-card").hidden = true;
  $("#desk").hidden = false;
  $("#who").replaceChildren(
    el("span", {}, `@${studio.me.handle} `),
    el("button", { type: "button", class: "link", id: "signout", onclick: async () => {
      await closeRoom();
      await signOut();
      showSignIn();
    } }, "Sign out"),
  );
  await listMine();
  const wanted = location.hash.slice(1);
  if (wanted) openRoom(wanted);
}

async function listMine() {
  const found = await api("/api/spaces?state=live,scheduled&limit=100");
  const mine = found.spaces.filter((s) => s.host_id === studio.me.account_id);
  const items = mine.map((s) =>
    el(
      "li",
      {},
      el("span", { class: `badge ${s.state}` }, s.state),
      " ",
      el("a", { href: `#${s.id}`, onclick: (e) => { e.preventDefault(); openRoom(s.id); } }, s.title),
      s.scheduled_start && s.state === "scheduled" ? el("span", { class: "muted" }, ` · ${formatTime(s.scheduled_start)}`) : "",
    ),
  );
  if (items.length === 0) items.push(el("li", { class: "muted" }, "No live or scheduled spaces yet."));
  $("#my-spaces").replaceChildren(...items);
}

async function createSpace(e) {
  e.preventDefault();
  const error = $("#new-error");
  showError(error, null);
  const startAt = $("#new-start").value;
  const cap = $("#new-cap").value;
  const body = {
    title: $("#new-title").value.trim(),
    recording: $("#new-recording").checked,
  };
  if (startAt) body.scheduled_start = new Date(startAt).getTime() / 1000;
  if (cap) body.listener_cap = Number(cap);
  const rate = $("#new-rate").value;
  if (rate) body.admissions_per_minute = Number(rate);
  try {
    const space = await api("/api/spaces", { method: "POST", body, auth: studio.me.token });
    $("#new-space").reset();
    announce(`Space created: ${space.title}`);
    await listMine();
    openRoom(space.id);
  } catch (err) {
    showError(error, err);
  }
}

// --- one space ---------------------------------------------------------------------------------------
async function openRoom(spaceId) {
  await closeRoom();
  let space;
  try {
    space = await api(`/api/spaces/${enc(spaceId)}`);
  } catch (err) {
    roomError(err);
    return;
  }
  studio.cohost = false;
  if (space.host_id !== studio.me.account_id) {
    // Co-hosts moderate from here too; going live, the cap and the end stay the host's.
    const roster = await api(`/api/spaces/${enc(space.id)}/members`).catch(() => ({ members: [] }));
    const me = roster.members.find((m) => m.account_id === studio.me.account_id);
    if (!me || me.role !== "cohost") {
      $("#room").hidden = false;
      $("#room-title").textContent = space.title;
      roomError(new Error("Only the host and co-hosts of this space can run it from the studio."));
      return;
    }
    studio.cohost = true;
  }
  history.replaceState(null, "", `#${space.id}`);
  studio.space = space;
  $("#room").hidden = false;
  roomError(null);
  $("#log").replaceChildren();
  $("#share-link").value = space.page_url;
  renderRoom();
  studio.events = openEvents(space.id, studio.me.token, onEvent);
  refreshCounts();
  refreshRequests();
  $("#room-title").focus();
}

async function closeRoom() {
  clearTimeout(studio.countsTimer);
  if (studio.events) studio.events.close();
  studio.events = null;
  await stopMic();
  studio.space = null;
}

function renderRoom() {
  const s = studio.space;
  $("#room-title").textContent = s.title;
  $("#room-badge").textContent = s.state;
  $("#room-badge").className = `badge ${s.state}`;
  $("#room-when").textContent = s.state === "scheduled" && s.scheduled_start ? `starts ${formatTime(s.scheduled_start)}` : "";
  $("#cap-now").textContent = `${s.listener_cap ? `cap ${s.listener_cap}` : "no cap"}, ${s.admissions_per_minute} let in a minute`;
  $("#cap").value = s.listener_cap || "";
  $("#rate").value = s.admissions_per_minute || "";
  const golive = $("#golive");
  golive.hidden = s.state === "ended" || Boolean(studio.publication) || (studio.cohost && s.state !== "live");
  golive.textContent = s.state === "live" ? "Connect microphone" : "Go live";
  $("#mute-me").hidden = !studio.publication;
  $("#end").disabled = s.state === "ended";
  $("#end").hidden = studio.cohost;
  $("#cap-form").hidden = studio.cohost;
  const status =
    s.state === "ended"
      ? "This space has ended."
      : s.state === "live"
        ? studio.publication
          ? studio.reconnecting
            ? "Reconnecting your microphone…"
            : studio.muted ? "You are live, muted." : "You are live: your microphone is on air."
          : "The space is live. Connect your microphone to speak."
        : "Not live yet. Share the link; listeners wait here until you go live.";
  $("#room-status").textContent = status;
}

async function goLive() {
  const s = studio.space;
  roomError(null);
  try {
    if (s.state !== "live") {
      studio.space = await api(`/api/spaces/${enc(s.id)}/start`, { method: "POST", auth: studio.me.token });
      log("You went live.");
      announce("You are live.");
      listMine();
    }
    renderRoom();
    $("#room-status").textContent = "Live. Asking for your microphone…";
    const stream = await microphone();
    const grant = () => api(`/api/spaces/${enc(s.id)}/speaker-token`, { method: "POST", auth: studio.me.token });
    studio.publication = publish(stream, grant, $("#mixminus"), onMicState); // stopMic now cancels it
    studio.publication.setMuted(studio.muted);
    await studio.publication.ready;
  } catch (err) {
    studio.publication = null; // refused: it released the microphone itself
    roomError(err);
  }
  renderRoom();
}

// The microphone's publication: on air, publishing again by itself after losing its media node (said
// until it is back on air), or refused.
function onMicState(state, err) {
  if (state === "refused") {
    roomError(err);
    stopMic().then(renderRoom);
    return;
  }
  const again = studio.reconnecting;
  studio.reconnecting = state === "reconnecting";
  if (studio.reconnecting && !again) log("Reconnecting your microphone…");
  $("#room").dataset.onAir = studio.reconnecting ? "reconnecting" : "true";
  if (!studio.reconnecting) log(again ? "Your microphone is on air again." : "Your microphone is on air.");
  renderRoom();
}

async function stopMic() {
  const publication = studio.publication;
  studio.publication = null;
  studio.reconnecting = false;
  if (publication) await publication.stop();
  delete $("#room").dataset.onAir;
}

async function endSpace() {
  const s = studio.space;
  if (!confirm(`End “${s.title}” for everyone?`)) return;
  try {
    studio.space = await api(`/api/spaces/${enc(s.id)}/end`, { method: "POST", auth: studio.me.token });
    await stopMic();
    log("You ended the space.");
    announce("The space has ended.");
    listMine();
  } catch (err) {
    roomError(err);
  }
  renderRoom();
}

async function muteMe() {
  const muted = !studio.muted;
  await act("mute", studio.me.account_id, { muted });
}

function setMuted(muted) {
  studio.muted = muted;
  if (studio.publication) studio.publication.setMuted(muted);
  const b = $("#mute-me");
  b.setAttribute("aria-pressed", muted ? "true" : "false");
  b.textContent = muted ? "Unmute" : "Mute";
  renderRoom();
}

async function setCap(e) {
  e.preventDefault();
  const value = $("#cap").value;
  const rate = $("#rate").value;
  const body = { listener_cap: value ? Number(value) : null };
  if (rate) body.admissions_per_minute = Number(rate);
  try {
    studio.space = await api(`/api/spaces/${enc(studio.space.id)}/cap`, { method: "PUT", body, auth: studio.me.token });
    log(value ? `Listener cap set to ${value}.` : "Listener cap lifted.");
    roomError(null);
  } catch (err) {
    roomError(err);
  }
  renderRoom();
}

// One role action on someone: accept, decline, invite, mute, demote, remove, cohost.
async function act(action, accountId, extra = {}) {
  roomError(null);
  try {
    await api(`/api/spaces/${enc(studio.space.id)}/${action}`, {
      method: "POST",
      body: { account_id: accountId, ...extra },
      auth: studio.me.token,
    });
    refreshRequests();
    refreshCounts();
    return true;
  } catch (err) {
    roomError(err);
    return false;
  }
}

async function byHandle(e, action) {
  e.preventDefault();
  const handle = $("#invite-handle").value.trim().replace(/^@/, "");
  if (!handle) return;
  try {
    const account = await api(`/api/accounts/${enc(handle)}`);
    if (await act(action, account.id)) {
      log(action === "invite" ? `You invited @${handle} to speak.` : `You removed @${handle}.`);
      $("#invite-handle").value = "";
    }
  } catch (err) {
    roomError(err);
  }
}

// --- live views: requests, stage, counts ---------------------------------------------------------------
function personRow(m, buttons) {
  return el(
    "li",
    { class: `person ${m.speaking ? "speaking" : ""} ${m.muted ? "muted" : ""}`, "data-handle": m.handle },
    el("span", { class: "avatar", "aria-hidden": "true" }, m.handle.slice(0, 1).toUpperCase()),
    el("span", { class: "name" }, `@${m.handle}`),
    m.role ? el("span", { class: "role" }, m.role === "cohost" ? "co-host" : m.role) : "",
    m.muted ? el("span", { class: "state" }, "muted") : m.speaking ? el("span", { class: "state" }, "speaking") : "",
    el("span", { class: "actions" }, ...buttons),
  );
}

function button(label, handler, cls = "secondary small") {
  return el("button", { type: "button", class: cls, onclick: handler }, label);
}

async function refreshRequests() {
  const s = studio.space;
  if (!s || s.state === "ended") {
    $("#requests").replaceChildren();
    return;
  }
  try {
    const found = await api(`/api/spaces/${enc(s.id)}/requests`, { auth: studio.me.token });
    const rows = found.members.map((m) =>
      personRow(m, [
        button(`Accept @${m.handle}`, async () => {
          if (await act("accept", m.account_id)) log(`@${m.handle} is now a speaker.`);
        }, "small"),
        button(`Decline @${m.handle}`, () => act("decline", m.account_id)),
      ]),
    );
    if (rows.length === 0) rows.push(el("li", { class: "muted" }, "No requests right now."));
    $("#requests").replaceChildren(...rows);
  } catch (err) {
    roomError(err);
  }
}

function renderStage(speakers) {
  const rows = speakers.map((m) => {
    const self = m.account_id === studio.me.account_id;
    const buttons = [];
    if (!self) {
      if (!m.muted) buttons.push(button(`Mute @${m.handle}`, async () => {
        if (await act("mute", m.account_id, { muted: true })) log(`You muted @${m.handle}.`);
      }));
      buttons.push(button(`Move @${m.handle} to listeners`, async () => {
        if (await act("demote", m.account_id)) log(`@${m.handle} is a listener again.`);
      }));
      if (m.role === "speaker") buttons.push(button(`Make @${m.handle} co-host`, () => act("cohost", m.account_id)));
      buttons.push(button(`Remove @${m.handle}`, async () => {
        if (await act("remove", m.account_id)) log(`You removed @${m.handle}.`);
      }, "danger small"));
    }
    return personRow(m, buttons);
  });
  $("#stage").replaceChildren(...rows);
}

async function refreshCounts() {
  clearTimeout(studio.countsTimer);
  const s = studio.space;
  if (!s) return;
  try {
    const doc = await api(`/api/spaces/${enc(s.id)}/state`);
    $("#listeners").textContent = String(doc.listeners);
    $("#waiting").textContent = String(doc.waiting);
    renderStage(doc.speakers || []);
    const me = (doc.speakers || []).find((m) => m.account_id === studio.me.account_id);
    if (me && me.muted !== studio.muted) setMuted(me.muted);
    if (doc.space.state !== s.state) {
      studio.space = await api(`/api/spaces/${enc(s.id)}`);
      renderRoom();
    }
  } catch (err) {
    console.warn("counts", err);
  }
  if (studio.space && studio.space.state !== "ended") studio.countsTimer = setTimeout(refreshCounts, COUNTS_EVERY_MS);
}

function onEvent(event) {
  switch (event.type) {
    case "request":
      if (event.pending) {
        log(`@${event.handle || event.account_id} asks to speak.`);
        announce(`@${event.handle || "someone"} asks to speak.`);
      }
      refreshRequests();
      break;
    case "ended":
      studio.space = { ...studio.space, state: "ended" };
      stopMic().then(renderRoom);
      log("The space has ended.");
      break;
    case "mute":
      if (event.account_id === studio.me.account_id) setMuted(event.muted);
      refreshCounts();
      break;
    case "role":
    case "removed":
    case "invite":
    case "suspended":
      refreshRequests();
      refreshCounts();
      break;
    default:
      break;
  }
}

function start() {
  $("#new-space").addEventListener("submit", createSpace);
  $("#golive").addEventListener("click", goLive);
  $("#end").addEventListener("click", endSpace);
  $("#mute-me").addEventListener("click", muteMe);
  $("#cap-form").addEventListener("submit", setCap);
  $("#invite-form").addEventListener("submit", (e) => byHandle(e, "invite"));
  $("#remove-handle").addEventListener("click", (e) => byHandle(e, "remove"));
  $("#copy-link").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText($("#share-link").value);
      announce("Link copied.");
    } catch {
      $("#share-link").select();
    }
  });
  window.addEventListener("hashchange", () => {
    const wanted = location.hash.slice(1);
    if (studio.me && wanted && (!studio.space || studio.space.id !== wanted)) openRoom(wanted);
  });
  window.addEventListener("pagehide", () => {
    if (studio.publication) studio.publication.stop();
  });
  boot();
}

start();
