// The listener page (/s/<space>): join or wait for a seat, play the programme through the edge (chunked CMAF, or
// LL-HLS: player.js), show who speaks and how many listen, react, ask to speak, and turn into a speaker view when
// let on stage.
// Never polls the control plane per second: room state comes from state.json through the edge.

import {
  $,
  REACTIONS,
  announce,
  api,
  backoffDelay,
  deviceId,
  el,
  formatTime,
  openEvents,
  refusal,
  retryable,
  session,
  signInForm,
  signOut,
  showError,
} from "./common.js";
import { LIVE_CONFIG, attach } from "./player.js";
import { solve } from "./pow.js";
import { microphone, publish } from "./speaker.js";
import { embedded, watchViews } from "./views.js";

const STATE_EVERY_MS = 1000;
const WAIT_POLL_MS = 5000; // when the server does not say (poll_after_s)
const JOIN_RETRY_BASE_MS = 2000; // backoff of a join the server could not answer (web/backoff.js)
const PLAYER_RETRY_MS = 1000;
const START_WATCH_MS = 3000; // before the start, the room state is read this often (jittered)
const START_SPREAD_MS = 3000; // when it goes live, the waiting room asks for its places within this
const TICKET_KEY = `townhall.ticket.${decodeURIComponent(location.pathname.split("/")[2] || "")}`;

const spaceId = decodeURIComponent(location.pathname.split("/")[2] || "");
const audio = $("#audio");
watchViews($("section.card.stage"), { space_id: spaceId, surface: embedded() ? "embed" : "space_page" });

const page = {
  seat: null, // {token, renew_every_s, playlist_url, state_url}
  player: null,
  spaceState: null,
  lastState: "",
  timers: {},
  events: null,
  role: "listener",
  speaking: null, // the WHIP publication while on stage
  joiningStage: false,
  stage: null, // handles on stage, to announce who comes and goes
  muted: false,
  over: false, // ended, removed or withheld: nothing more to do
  left: false,
  failures: 0, // calls in a row the server could not answer: the backoff's attempt number
};

// The waiting-room ticket survives a refresh: kept per space in localStorage, polled with "where am I".
function savedTicket() {
  try {
    return localStorage.getItem(TICKET_KEY) || "";
  } catch {
    return "";
  }
}

function keepTicket(ticket) {
  try {
    if (ticket) localStorage.setItem(TICKET_KEY, ticket);
    else localStorage.removeItem(TICKET_KEY);
  } catch {
    /* private mode: the place lasts as long as the page */
  }
}
window.townhall = page; // for people debugging, and for tests reading what the page knows

// Once the page is over (ended, refused, removed) only the final message stands.
function setStatus(text, final = false) {
  if (page.over && !final) return;
  $("#status").textContent = text;
}

function stopTimer(name) {
  clearTimeout(page.timers[name]);
  clearInterval(page.timers[name]);
  delete page.timers[name];
}

// --- the space itself -------------------------------------------------------------------------------
function renderSpace(space) {
  $("#title").textContent = space.title;
  document.title = `${space.title} · townhall`;
  if (space.host) {
    $("#host").textContent = `@${space.host}`;
    $("#host-line").hidden = false;
  }
  const badge = $("#badge");
  badge.textContent = space.state === "live" ? "live" : space.state;
  badge.className = `badge ${space.state}`;
  page.spaceState = space.state;
}

// Tell screen readers who came on or left the stage (not every change of who is speaking: too chatty).
function announceStage(speakers) {
  const now = new Set(speakers.map((s) => s.handle));
  if (page.stage) {
    for (const h of now) if (!page.stage.has(h)) announce(`@${h} is on stage.`);
    for (const h of page.stage) if (!now.has(h)) announce(`@${h} left the stage.`);
  }
  page.stage = now;
}

function renderSpeakers(speakers) {
  announceStage(speakers);
  const list = $("#speakers");
  const items = speakers.map((s) => {
    const role = s.role === "host" ? "host" : s.role === "cohost" ? "co-host" : "speaker";
    const state = s.muted ? "muted" : s.speaking ? "speaking" : "";
    return el(
      "li",
      { class: `person ${s.speaking ? "speaking" : ""} ${s.muted ? "muted" : ""}`, "data-handle": s.handle, "data-speaking": s.speaking ? "true" : "false" },
      el("span", { class: "avatar", "aria-hidden": "true" }, s.handle.slice(0, 1).toUpperCase()),
      el("span", { class: "name" }, `@${s.handle}`),
      el("span", { class: "role" }, role),
      el("span", { class: "state" }, state),
    );
  });
  if (items.length === 0) items.push(el("li", { class: "muted" }, "Nobody is on stage yet."));
  list.replaceChildren(...items);
}

function renderCounts(doc) {
  // shown once the room state says how many listen: a waiting page never claims "0 listening"
  $("#count").textContent = String(doc.listeners);
  $("#count-line").hidden = false;
  const counts = Object.entries(doc.reactions || {})
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => el("span", { class: "reaction-count", "data-kind": kind }, `${REACTIONS[kind] || kind} ${n}`));
  $("#reaction-counts").replaceChildren(...counts);
}

function renderState(doc) {
  renderSpace(doc.space);
  renderSpeakers(doc.speakers || []);
  renderCounts(doc);
  if (doc.space.state === "ended") return ended();
  if (doc.space.state === "live" && !page.player && !page.speaking) startPlayer();
  if (doc.space.state === "scheduled") {
    const when = doc.space.scheduled_start ? ` It is scheduled for ${formatTime(doc.space.scheduled_start)}.` : "";
    setStatus(`The space has not started yet.${when} This page starts playing when the host goes live.`);
  }
}

async function pollState() {
  if (!page.seat || page.over) return;
  try {
    // The browser revalidates with the ETag itself (If-None-Match), so a 304 costs the edge nothing.
    const response = await fetch(withToken(page.seat.state_url), { cache: "no-cache" });
    if (response.ok) {
      const text = await response.text();
      if (text !== page.lastState) {
        page.lastState = text;
        renderState(JSON.parse(text));
      }
    } else if (response.status === 451) {
      return refused({ status: 451, code: "withheld_in_country" });
    } else if (response.status === 403) {
      return rejoin();
    }
  } catch (err) {
    console.warn("state", err);
  }
  if (!page.over) page.timers.state = setTimeout(pollState, STATE_EVERY_MS);
}

// --- seat: join, wait, renew, leave -------------------------------------------------------------------
// A join (or, with a ticket, a "where am I" poll); the answer is a seat or a place in line.
async function join() {
  if (page.over || page.left) return;
  stopTimer("join");
  const space = encodeURIComponent(spaceId);
  const ticket = savedTicket();
  try {
    let answer;
    if (ticket) {
      try {
        answer = await api(`/api/spaces/${space}/queue`, { method: "POST", auth: ticket });
      } catch (err) {
        if (retryable(err.status)) throw err;
        keepTicket(""); // a ticket of another key or long expired: join afresh
        return join();
      }
    } else {
      const me = session();
      const body = me ? {} : { device_id: deviceId() };
      const challenge = await api(`/api/spaces/${space}/challenge`, { method: "POST" });
      if (challenge.difficulty > 0) {
        setStatus("Checking your browser before you join…");
        body.proof = { challenge: challenge.challenge, nonce: await solve(challenge.challenge, challenge.difficulty) };
      }
      answer = await api(`/api/spaces/${space}/join`, { method: "POST", body, auth: me ? me.token : undefined });
    }
    page.failures = 0;
    if (answer.status === "waiting") return waiting(answer);
    if (answer.status === "lobby") return lobby(answer);
    keepTicket("");
    admitted(answer);
  } catch (err) {
    if (retryable(err.status)) {
      page.failures += 1;
      const ms = backoffDelay(page.failures, err.retryAfter, { baseMs: JOIN_RETRY_BASE_MS });
      setStatus(`${refusal(err)} Retrying in ${Math.ceil(ms / 1000)} s…`);
      page.timers.join = setTimeout(join, ms);
      return;
    }
    refused(err);
  }
}

function waiting(answer) {
  stopTimer("countdown");
  delete document.body.dataset.lobby;
  stopPlayer(); // a listener who lost the seat (a lease not renewed in time) waits like everyone else
  keepTicket(answer.ticket);
  const position = answer.position;
  $("#play").disabled = true;
  $("#leave").disabled = false;
  const text =
    position > 0
      ? `This space is full. You are number ${position} in line; this page lets you in as soon as a seat frees up.`
      : "You are in the waiting room. When the space starts, places are drawn at random among everyone here, then it is first come, first served.";
  if ($("#status").textContent !== text) announce(position > 0 ? `You are number ${position} in line.` : "You are in the waiting room.");
  setStatus(text);
  $("#status").dataset.position = String(position);
  // jittered around the server's cadence, so a crowd that arrived together does not poll together
  const every = (answer.poll_after_s || WAIT_POLL_MS / 1000) * 1000;
  page.timers.join = setTimeout(join, every * (0.75 + Math.random() / 2));
  if (position === 0) watchStart();
}

// Before the start: watch the public room state (cached at the edge) rather than the queue; when the
// space goes live, ask for the drawn place within a few seconds (spread, so the crowd does not stampede).
async function watchStart() {
  stopTimer("start");
  if (page.seat || page.over || page.left) return;
  try {
    const response = await fetch(`/api/spaces/${encodeURIComponent(spaceId)}/state`, { cache: "no-cache" });
    if (response.ok) {
      const doc = await response.json();
      renderSpace(doc.space);
      if (doc.space.state === "ended") return ended();
      if (doc.space.state === "live") {
        stopTimer("join");
        page.timers.join = setTimeout(join, Math.random() * START_SPREAD_MS);
        return;
      }
      const when = doc.space.scheduled_start ? ` It is scheduled for ${formatTime(doc.space.scheduled_start)}.` : "";
      if (!document.body.dataset.lobby) setStatus(`The space has not started yet.${when} You are in the waiting room: when it starts, places are drawn at random among everyone here.`);
    }
  } catch (err) {
    console.warn("state", err);
  }
  page.timers.start = setTimeout(watchStart, START_WATCH_MS * (0.75 + Math.random() / 2));
}

// Before the start: a lobby with a countdown. No seat, no token and no listen: the page asks again every
// few seconds and is let in once the host has started the space.
function lobby(answer) {
  stopPlayer();
  page.seat = null;
  stopTimer("renew");
  stopTimer("countdown");
  $("#play").disabled = true;
  $("#leave").disabled = true;
  document.body.dataset.lobby = "true";
  const startsAt = answer.scheduled_start;
  const show = () => {
    const when = startsAt ? ` It is scheduled for ${formatTime(startsAt)}` : "";
    let left = "";
    if (startsAt) {
      const s = Math.max(0, Math.round(startsAt - Date.now() / 1000));
      const h = Math.floor(s / 3600);
      const m = Math.floor((s % 3600) / 60);
      left = s > 0 ? ` (starts in ${h ? `${h} h ` : ""}${m} min ${s % 60} s)` : " (any moment now)";
      $("#status").dataset.countdown = String(s);
    }
    setStatus(`The space has not started yet.${when}${left}. This page starts playing when the host goes live.`);
  };
  show();
  page.timers.countdown = setInterval(show, 1000);
  keepTicket(answer.ticket); // the place in the pool, drawn when the space starts
  watchStart(); // the public room state (cached at the edge) says when it goes live; then the page joins
}

function admitted(answer) {
  stopTimer("countdown");
  stopTimer("start");
  delete document.body.dataset.lobby;
  const first = !page.seat;
  page.seat = answer;
  delete $("#status").dataset.position;
  $("#leave").disabled = false;
  if (first) announce("You are in.");
  setStatus(page.spaceState === "live" ? "You are in." : "You have a seat.");
  stopTimer("renew");
  page.timers.renew = setInterval(renew, Math.max(1, answer.renew_every_s) * 1000);
  stopTimer("state");
  page.lastState = ""; // render the room afresh, which starts the player when the space is live
  pollState();
}

async function renew() {
  if (!page.seat) return;
  try {
    const answer = await api(`/api/spaces/${encodeURIComponent(spaceId)}/lease`, { method: "POST", auth: page.seat.token });
    if (answer && answer.token && page.seat) page.seat.token = answer.token; // tokens are short-lived: each renewal extends it
  } catch (err) {
    if (err.code === "space_ended") return ended();
    if (err.code === "lease_lost") return rejoin();
    if (err.status === 451) return refused(err);
    if (err.code === "token_revoked") return refused(err);
  }
}

function rejoin() {
  stopTimer("renew");
  stopTimer("state");
  page.seat = null;
  join();
}

function releaseSeat(keepalive) {
  if (!page.seat) return;
  const token = page.seat.token;
  page.seat = null;
  // keepalive lets the request outlive the page on unload, so the seat frees at once.
  api(`/api/spaces/${encodeURIComponent(spaceId)}/lease`, { method: "DELETE", auth: token, keepalive }).catch(() => {});
}

function stopEverything() {
  for (const name of Object.keys(page.timers)) stopTimer(name);
  stopPlayer();
}

async function leave() {
  page.left = true;
  keepTicket(""); // leaving gives up a place in line too
  stopEverything();
  await stopSpeaking(false);
  releaseSeat(false);
  setStatus("You left the space.");
  announce("You left the space.");
  $("#leave").disabled = true;
  const again = $("#play");
  again.disabled = false;
  again.textContent = "Rejoin";
  again.setAttribute("aria-pressed", "false");
  again.dataset.mode = "rejoin";
}

// --- refusals: every one says what happened and what the person can do ---------------------------------
function finish(message) {
  page.over = true;
  stopEverything();
  stopSpeaking(false);
  if (page.events) page.events.close();
  setStatus(message, true);
  announce(message);
  for (const id of ["#play", "#leave", "#ask"]) $(id).disabled = true;
  $("#ask-box").hidden = true;
  $("#invite-box").hidden = true;
  document.body.dataset.over = "true";
}

function ended() {
  if (page.over) return;
  releaseSeat(true);
  page.spaceState = "ended";
  $("#badge").textContent = "ended";
  $("#badge").className = "badge ended";
  finish("This space has ended. Thanks for listening.");
  $("#replay-href").href = `/r/${encodeURIComponent(spaceId)}`;
  $("#replay-link").hidden = false;
  // nothing live is left to act on: no speakers, reactions or requests to speak, only the replay
  for (const id of ["#speakers-card", "#reactions-card", "#participate", "#speaker-view", "#count-line"]) {
    $(id).hidden = true;
  }
}

function refused(err) {
  if (err.code === "space_ended" || err.status === 410) return ended();
  releaseSeat(true);
  finish(refusal(err));
  document.body.dataset.refusal = err.code || String(err.status);
}

// --- playback ----------------------------------------------------------------------------------------
// A stream URL with the seat's newest listener token in its path: tokens are short-lived, and each lease
// renewal answers a fresh one.
function withToken(url) {
  const token = page.seat && page.seat.token;
  return token ? url.replace(/\/e\/[^/]+\/live\//, `/e/${token}/live/`) : url;
}

function startPlayer() {
  if (page.player || !page.seat) return;
  // Every request the player makes carries the newest token (renewals replace it), not the one joined with.
  const config = { ...LIVE_CONFIG, xhrSetup: (xhr, url) => xhr.open("GET", withToken(url), true) };
  page.player = attach(audio, page.seat.playlist_url, config, (status) => {
    if (status === 451) return refused({ status: 451, code: "withheld_in_country" });
    if (status === 403) {
      stopPlayer(); // the token was refused (expired, say): a new seat brings a new one
      return rejoin();
    }
    if (status === -1) return setStatus("This browser cannot play live audio (it has neither HLS nor Media Source Extensions).");
    // The stream is not there yet (the host has only just gone live) or the network failed: start again.
    stopPlayer();
    page.timers.player = setTimeout(() => {
      if (!page.over && !page.speaking && page.spaceState === "live") startPlayer();
    }, PLAYER_RETRY_MS);
  });
  const button = $("#play");
  button.disabled = false;
  button.dataset.mode = "play";
  setStatus("You are in. The space is live.");
  audio.play().then(
    () => setPlaying(true),
    (err) => {
      setPlaying(false);
      if (err.name === "NotAllowedError") setStatus("You are in. Press Listen to start hearing the space.");
    },
  );
}

function stopPlayer() {
  if (page.player) page.player.destroy();
  page.player = null;
  setPlaying(false);
}

function setPlaying(playing) {
  const button = $("#play");
  button.setAttribute("aria-pressed", playing ? "true" : "false");
  button.textContent = playing ? "Pause" : "Listen";
  // an earlier "press Listen" (autoplay was blocked) is stale once the audio plays
  if (playing && !page.over) setStatus("You are in. The space is live: you are hearing it now.");
}

function onPlayButton() {
  const button = $("#play");
  if (button.dataset.mode === "rejoin") {
    page.left = false;
    button.dataset.mode = "play";
    button.textContent = "Listen";
    $("#leave").disabled = false;
    join();
    return;
  }
  if (!page.player) return startPlayer();
  // The button's own state, not audio.paused: an autoplay attempt still pending reads as not paused.
  if (button.getAttribute("aria-pressed") !== "true") {
    // Back to the live edge: a paused live stream should not resume minutes behind.
    const hls = page.player.hls;
    if (hls && hls.liveSyncPosition) audio.currentTime = hls.liveSyncPosition;
    audio.play().then(() => setPlaying(true), (err) => setStatus(`Playback failed: ${err.message}`));
  } else {
    audio.pause();
    setPlaying(false);
  }
}

// --- reactions ---------------------------------------------------------------------------------------
function reactionButtons() {
  const box = $("#reaction-buttons");
  for (const [kind, emoji] of Object.entries(REACTIONS)) {
    box.append(
      el(
        "button",
        { type: "button", class: "reaction", "data-kind": kind, onclick: () => react(kind) },
        el("span", { "aria-hidden": "true" }, emoji),
        ` ${kind.replace("_", " ")}`,
      ),
    );
  }
}

async function react(kind) {
  const error = $("#reaction-error");
  if (!page.seat) return showError(error, new Error("Join the space to react."));
  try {
    await api(`/api/spaces/${encodeURIComponent(spaceId)}/reactions`, { method: "POST", body: { kind }, auth: page.seat.token });
    showError(error, null);
    announce("Reaction sent.");
  } catch (err) {
    showError(error, err);
  }
}

// --- taking part: account, request to speak, invitations, the speaker view ------------------------------
function renderAccount() {
  const me = session();
  const box = $("#account");
  if (!me) {
    box.replaceChildren(el("p", { class: "muted" }, "Sign in to ask to speak. You can listen without an account."));
    const form = el("div");
    box.append(form);
    signInForm(form, () => {
      releaseSeat(false);
      page.seat = null;
      renderAccount();
      join();
    });
    $("#ask-box").hidden = true;
    $("#who").textContent = "";
    return;
  }
  $("#who").replaceChildren(
    el("span", {}, `@${me.handle} `),
    el("button", { type: "button", class: "link", onclick: async () => {
      await stopSpeaking(true);
      if (page.events) page.events.close();
      page.events = null;
      releaseSeat(false);
      page.seat = null;
      await signOut();
      renderAccount();
      join();
    } }, "Sign out"),
  );
  box.replaceChildren();
  $("#ask-box").hidden = page.over;
  listenForEvents(me);
}

function listenForEvents(me) {
  if (page.events) return;
  page.events = openEvents(spaceId, me.token, (event) => onEvent(event, me), (status, code) => {
    if (status === "closed" && code === 4401) {
      page.events = null;
      signOut().then(renderAccount);
    }
  });
}

function onEvent(event, me) {
  const mine = event.account_id === me.account_id;
  if ((event.type === "hello" || (event.type === "role" && mine)) && event.role) {
    $("#cohost-tools").hidden = event.role !== "cohost";
  }
  switch (event.type) {
    case "hello":
      page.role = event.role;
      if (event.role === "host") {
        $("#ask-box").replaceChildren(el("p", {}, "You host this space. ", el("a", { href: `/studio#${spaceId}` }, "Open the studio")));
      } else if (event.role === "speaker" || event.role === "cohost") {
        becomeSpeaker();
      }
      break;
    case "ended":
      ended();
      break;
    case "invite":
      if (mine && page.role === "listener") {
        $("#invite-box").hidden = false;
        announce("The host invites you to speak.");
        $("#invite-accept").focus();
      }
      break;
    case "request":
      if (mine && !event.pending) {
        setAsked(false);
        if (event.declined) $("#ask-status").textContent = "The host declined your request this time.";
      }
      break;
    case "role":
      if (!mine) break;
      page.role = event.role;
      if (event.role === "speaker" || event.role === "cohost") becomeSpeaker();
      else if (event.role === "listener") stopSpeaking(true).then(() => announce("You are a listener again."));
      break;
    case "mute":
      if (mine) setMuted(event.muted, event.muted ? "The host muted you." : "You are unmuted.");
      break;
    case "removed":
      if (mine) refused({ status: 403, code: "removed_from_space" });
      break;
    default:
      break;
  }
}

function setAsked(asked) {
  const button = $("#ask");
  button.dataset.asked = asked ? "true" : "false";
  button.textContent = asked ? "Withdraw request" : "Request to speak";
  if (!asked) $("#ask-status").textContent = "";
}

async function onAsk() {
  const me = session();
  if (!me) return;
  const path = `/api/spaces/${encodeURIComponent(spaceId)}/requests`;
  try {
    if ($("#ask").dataset.asked === "true") {
      await api(`${path}/mine`, { method: "DELETE", auth: me.token });
      setAsked(false);
      announce("Request withdrawn.");
    } else {
      await api(path, { method: "POST", auth: me.token });
      setAsked(true);
      $("#ask-status").textContent = "Requested. The host sees your request and may bring you on stage.";
      announce("Request to speak sent.");
    }
  } catch (err) {
    $("#ask-status").textContent = refusal(err);
  }
}

async function acceptInvite() {
  const me = session();
  $("#invite-box").hidden = true;
  try {
    await api(`/api/spaces/${encodeURIComponent(spaceId)}/invite/accept`, { method: "POST", auth: me.token });
  } catch (err) {
    $("#ask-status").textContent = refusal(err);
  }
}

async function becomeSpeaker() {
  if (page.speaking || page.joiningStage || page.over) return;
  page.joiningStage = true;
  const me = session();
  const view = $("#speaker-view");
  const status = $("#mic-status");
  view.hidden = false;
  $("#participate").hidden = true;
  $("#invite-box").hidden = true;
  document.body.dataset.view = "speaker";
  status.textContent = "You are on stage. Asking for your microphone…";
  announce("You are a speaker now.");
  try {
    const stream = await microphone();
    const grant = () => api(`/api/spaces/${encodeURIComponent(spaceId)}/speaker-token`, { method: "POST", auth: me.token });
    stopPlayer(); // you hear the others through the call itself, without the stream's delay
    $("#play").disabled = true;
    setStatus("You are on stage: you hear the others directly.");
    page.speaking = publish(stream, grant, $("#mixminus"), onMicState); // stopSpeaking now cancels it
    page.speaking.setMuted(page.muted);
    await page.speaking.ready;
  } catch (err) {
    page.speaking = null; // refused: it released the microphone itself
    status.textContent = refusal(err);
    view.dataset.live = "false";
  } finally {
    page.joiningStage = false;
  }
}

// The microphone's publication: on air, publishing again by itself after losing its media node, or refused.
function onMicState(state, err) {
  const status = $("#mic-status");
  if (state === "refused") {
    status.textContent = refusal(err);
    $("#speaker-view").dataset.live = "false";
    return;
  }
  const live = state === "on-air";
  $("#speaker-view").dataset.live = live ? "true" : "reconnecting";
  if (!live) status.textContent = "Reconnecting your microphone…";
  else status.textContent = page.muted ? "You are on stage, muted." : "You are live: everyone hears you.";
}

async function stopSpeaking(resumeListening) {
  const publication = page.speaking;
  page.speaking = null;
  if (publication) await publication.stop();
  $("#speaker-view").hidden = true;
  $("#participate").hidden = false;
  delete document.body.dataset.view;
  if (!page.over) {
    $("#ask-box").hidden = !session();
    setAsked(false);
  }
  if (resumeListening && !page.over && page.spaceState === "live") startPlayer();
}

function setMuted(muted, message) {
  page.muted = muted;
  if (page.speaking) page.speaking.setMuted(muted);
  const button = $("#mute-self");
  button.setAttribute("aria-pressed", muted ? "true" : "false");
  button.textContent = muted ? "Unmute" : "Mute";
  $("#mic-status").textContent = message;
  announce(message);
}

async function onMuteSelf() {
  const me = session();
  const muted = !page.muted;
  try {
    await api(`/api/spaces/${encodeURIComponent(spaceId)}/mute`, {
      method: "POST",
      body: { account_id: me.account_id, muted },
      auth: me.token,
    });
    setMuted(muted, muted ? "You muted yourself." : "You are unmuted: everyone hears you.");
  } catch (err) {
    $("#mic-status").textContent = refusal(err);
  }
}

async function onStepDown() {
  const me = session();
  try {
    await api(`/api/spaces/${encodeURIComponent(spaceId)}/demote`, {
      method: "POST",
      body: { account_id: me.account_id },
      auth: me.token,
    });
    await stopSpeaking(true);
  } catch (err) {
    $("#mic-status").textContent = refusal(err);
  }
}

// --- start -------------------------------------------------------------------------------------------
async function start() {
  reactionButtons();
  $("#cohost-link").href = `/studio#${encodeURIComponent(spaceId)}`;
  $("#play").addEventListener("click", onPlayButton);
  $("#leave").addEventListener("click", leave);
  $("#ask").addEventListener("click", onAsk);
  $("#invite-accept").addEventListener("click", acceptInvite);
  $("#invite-decline").addEventListener("click", () => ($("#invite-box").hidden = true));
  $("#mute-self").addEventListener("click", onMuteSelf);
  $("#step-down").addEventListener("click", onStepDown);
  audio.addEventListener("pause", () => setPlaying(false));
  audio.addEventListener("playing", () => setPlaying(true));
  window.addEventListener("pagehide", () => {
    releaseSeat(true);
    if (page.speaking) stopSpeaking(false);
  });
  // Back from the back/forward cache: the seat was given up on the way out, so take one again.
  window.addEventListener("pageshow", (e) => {
    if (e.persisted && !page.over && !page.left) rejoin();
  });
  if (!spaceId) return refused({ status: 404, code: "space_not_found" });
  try {
    renderSpace(await api(`/api/spaces/${encodeURIComponent(spaceId)}`));
  } catch (err) {
    if (err.status === 404) return refused(err);
  }
  if (page.spaceState === "ended") return ended();
  renderAccount();
  join();
}

start();
