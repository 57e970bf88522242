// What every townhall page shares: calling the JSON API, the signed-in session, the sign-in form,
// refusal messages people can act on, and a screen-reader announcer. Loads nothing from elsewhere.

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body || {};
  }
}

const SESSION_KEY = "townhall.session";
const DEVICE_KEY = "townhall.device";

export function session() {
  try {
    return JSON.parse(localStorage.getItem(SESSION_KEY) || "null");
  } catch {
    return null;
  }
}

export function saveSession(s) {
  if (s) localStorage.setItem(SESSION_KEY, JSON.stringify(s));
  else localStorage.removeItem(SESSION_KEY);
}

export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

// Call the API: `auth` is a bearer token (session, listener or speaker); throws ApiError on 4xx/5xx.
export async function api(path, { method = "GET", body, auth, keepalive = false } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth) headers["Authorization"] = `Bearer ${auth}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      keepalive,
      cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection; we keep trying.");
  }
  if (response.status === 204) return { status: 204 };
  const text = await response.text();
  let data = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { code: "bad_response", message: text.slice(0, 200) };
  }
  if (!response.ok) {
    throw new ApiError(response.status, data.code || "error", data.message || response.statusText, data);
  }
  data.status_code = response.status;
  return data;
}

// What to tell a person for each refusal; the server's own message where we have nothing better.
const REFUSALS = {
  space_ended: "This space has ended.",
  space_not_found: "There is no such space. Check the link.",
  removed_from_space: "You were removed from this space by its host, so you cannot rejoin it.",
  too_many_joins: "Too many people are joining from your network right now. Try again in a minute.",
  not_signed_in: "Sign in first.",
  session_invalid: "Your session has expired. Sign in again.",
  bad_credentials: "That handle and password do not match.",
  network: "The server cannot be reached. Check your connection; we keep trying.",
};

export function refusal(err) {
  if (!err) return "";
  if (err.status === 451 || err.code === "withheld_in_country") {
    // The server's message is a sentence with its own full stop: do not add a second one.
    const given = err instanceof ApiError && err.message ? err.message.trim().replace(/\.+$/, "") : "";
    const reason = given ? ` Reason given: ${given}.` : "";
    return `This space is not available in your country.${reason}`;
  }
  if (err.code && REFUSALS[err.code]) return REFUSALS[err.code];
  if (err instanceof ApiError) return err.message || `Something went wrong (${err.status}).`;
  return String(err.message || err);
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// Build an element: el("button", {class: "x", onclick: f, "aria-label": "..."}, "text", child...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Tell screen readers (and everyone) what just happened, politely.
export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 30);
}

export function showError(node, err) {
  node.textContent = err ? refusal(err) : "";
  node.hidden = !err;
}

// The sign-in / register form inside `container`; calls `onSignedIn(session)` once signed in.
export function signInForm(container, onSignedIn) {
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const handle = el("input", { id: "signin-handle", name: "handle", autocomplete: "username", required: true });
  const password = el("input", {
    id: "signin-password",
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
    minlength: "8",
  });
  const submit = async (path) => {
    showError(error, null);
    try {
      const s = await api(path, { method: "POST", body: { handle: handle.value.trim(), password: password.value } });
      const saved = { token: s.session_token, account_id: s.account_id, handle: s.handle };
      saveSession(saved);
      onSignedIn(saved);
    } catch (err) {
      showError(error, err);
    }
  };
  const form = el(
    "form",
    {
      class: "signin",
      "aria-label": "Sign in",
      onsubmit: (e) => {
        e.preventDefault();
        submit("/api/sessions");
      },
    },
    el("label", { for: "signin-handle" }, "Handle"),
    handle,
    el("label", { for: "signin-password" }, "Password (8 characters or more)"),
    password,
    el(
      "div",
      { class: "row" },
      el("button", { type: "submit", id: "signin" }, "Sign in"),
      el(
        "button",
        {
          type: "button",
          id: "register",
          class: "secondary",
          onclick: () => {
            if (form.reportValidity()) submit("/api/accounts");
          },
        },
        "Create account",
      ),
    ),
    error,
  );
  container.replaceChildren(form);
  return form;
}

export async function signOut() {
  const s = session();
  saveSession(null);
  if (s) {
    try {
      await api("/api/sessions/current", { method: "DELETE", auth: s.token });
    } catch {
      // the session is forgotten here either way
    }
  }
}

// The host/speaker event channel, reconnecting with backoff until `close()`.
export function openEvents(spaceId, token, onEvent, onStatus = () => {}) {
  let socket = null;
  let closed = false;
  let delay = 500;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/api/spaces/${encodeURIComponent(spaceId)}/events?access_token=${encodeURIComponent(token)}`;
    socket = new WebSocket(url);
    socket.onopen = () => {
      delay = 500;
      onStatus("open");
    };
    socket.onmessage = (m) => {
      try {
        onEvent(JSON.parse(m.data));
      } catch (err) {
        console.error("event", err);
      }
    };
    socket.onclose = (e) => {
      onStatus("closed", e.code);
      if (closed || (e.code >= 4000 && e.code < 5000)) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  connect();
  return {
    close() {
      closed = true;
      if (socket) socket.close();
    },
  };
}

export function formatTime(unixSeconds) {
  if (!unixSeconds) return "";
  return new Date(unixSeconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export const REACTIONS = {
  clap: "👏",
  heart: "❤️",
  laugh: "😂",
  hundred: "💯",
  raised_hand: "✋",
  thumbs_up: "👍",
};
