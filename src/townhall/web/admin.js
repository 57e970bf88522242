// The trust and safety desk: the notice queue, decisions, appeals, orders, the transparency report and
// the audit check. Plain ES module on the JSON API; every control is a labelled form element.
import { $, el, api, announce, formatTime, saveSession, session, showError, signInForm } from "./common.js";

let me = null;
const auth = () => me.token;

async function start() {
  const s = session();
  if (!s) return showSignIn();
  try {
    const who = await api("/api/me", { auth: s.token });
    me = { ...s, roles: who.platform_roles };
  } catch {
    saveSession(null);
    return showSignIn();
  }
  $("#who").textContent = `${me.handle} (${me.roles.join(", ") || "no platform role"})`;
  $("#signin-card").hidden = true;
  $("#desk").hidden = false;
  await fillCategories();
  const year = new Date().getFullYear();
  $("#r-from").value = `${year}-01-01`;
  $("#r-to").value = new Date().toISOString().slice(0, 10);
  $("#sor-export").href = "#";
  await Promise.allSettled([loadQueue(), loadDecisions(), loadAppeals(), loadOrders()]);
  showReport();
}

function showSignIn() {
  $("#signin-card").hidden = false;
  $("#desk").hidden = true;
  signInForm($("#signin-box"), () => start());
}

async function fillCategories() {
  const info = await api("/.well-known/dsa");
  for (const id of ["#d-category", "#o-category"]) {
    $(id).replaceChildren(...info.categories.map((c) => el("option", { value: c }, c.replace("STATEMENT_CATEGORY_", "").replaceAll("_", " ").toLowerCase())));
  }
}

async function loadQueue() {
  showError($("#queue-error"), null);
  try {
    const { notices } = await api("/api/admin/queue", { auth: auth() });
    $("#queue").replaceChildren(
      ...notices.map((n) =>
        el(
          "li",
          {},
          `[${n.priority}] ${n.items[0].kind} ${n.items[0].id} · ${n.category.replace("STATEMENT_CATEGORY_", "")} · ${n.source_kind} · ${formatTime(n.received_at)}: `,
          el("q", {}, n.explanation.slice(0, 200)),
          " ",
          el("button", { type: "button", class: "secondary", onclick: () => prefill(n), "aria-label": `Decide on notice ${n.id}` }, "Decide"),
        ),
      ),
    );
    if (!notices.length) $("#queue").replaceChildren(el("li", {}, "No notices waiting."));
  } catch (err) {
    showError($("#queue-error"), err);
  }
}

function prefill(n) {
  $("#d-notices").value = n.id;
  $("#d-kind").value = n.items[0].kind === "account" ? "account" : n.items[0].kind === "clip" ? "clip" : "space";
  $("#d-target").value = n.items[0].id;
  $("#d-category").value = n.category;
  $("#d-action").focus();
  announce("Decision form filled from the notice");
}

function list(text) {
  return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
}

async function decide(event) {
  event.preventDefault();
  showError($("#decide-error"), null);
  const ground = document.querySelector("input[name=ground]:checked").value;
  const days = Number($("#d-days").value);
  const why = $("#d-why").value;
  const provision = $("#d-legal").value;
  const body = {
    notice_ids: list($("#d-notices").value),
    action: $("#d-action").value,
    target_kind: $("#d-kind").value,
    target_id: $("#d-target").value.trim(),
    speaker_id: $("#d-speaker").value.trim() || null,
    category: $("#d-category").value,
    countries: list($("#d-countries").value),
    until: days ? Date.now() / 1000 + days * 86400 : null,
    label: $("#d-label").value,
    manifestly: $("#d-manifest").checked,
  };
  if (body.action !== "no_action") {
    Object.assign(body, ground === "illegal" ? { ground, legal_ground: provision, legal_explanation: why } : { ground, tos_ground: provision, tos_explanation: why });
  }
  try {
    const d = await api("/api/admin/decisions", { method: "POST", body, auth: auth() });
    $("#decide-done").textContent = `Decision ${d.puid} recorded${d.statement_id ? "; statement of reasons sent" : ""}.`;
    announce("Decision recorded");
    await Promise.allSettled([loadQueue(), loadDecisions()]);
  } catch (err) {
    showError($("#decide-error"), err);
  }
}

async function loadDecisions() {
  const { decisions } = await api("/api/admin/decisions", { auth: auth() });
  $("#decisions").replaceChildren(
    ...decisions.reverse().map((d) =>
      el(
        "tr",
        {},
        el("td", {}, formatTime(d.decided_at)),
        el("td", {}, d.action),
        el("td", {}, d.basis),
        el("td", {}, d.state),
        el("td", {}, el("button", { type: "button", class: "secondary", onclick: () => download(`/api/admin/decisions/${d.id}/sor.json`, `${d.puid}.json`) }, "JSON")),
      ),
    ),
  );
}

async function download(path, name) {
  try {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${auth()}` } });
    if (!response.ok) {
      const err = await response.json();
      return announce(err.message || "Not available");
    }
    const url = URL.createObjectURL(await response.blob());
    el("a", { href: url, download: name }).click();
    URL.revokeObjectURL(url);
  } catch (err) {
    announce(String(err));
  }
}

async function loadAppeals() {
  showError($("#appeals-error"), null);
  try {
    const { appeals } = await api("/api/admin/appeals", { auth: auth() });
    $("#appeals").replaceChildren(...appeals.map(appealItem));
    if (!appeals.length) $("#appeals").replaceChildren(el("li", {}, "No open appeals."));
  } catch (err) {
    showError($("#appeals-error"), err);
  }
}

function appealItem(a) {
  const reasons = el("textarea", { id: `reasons-${a.id}`, rows: "2", required: true });
  const outcome = el("select", { id: `outcome-${a.id}` }, el("option", { value: "upheld" }, "Uphold"), el("option", { value: "reversed" }, "Reverse"));
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const form = el(
    "form",
    {
      class: "stack",
      onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api(`/api/admin/appeals/${a.id}/decision`, { method: "POST", body: { outcome: outcome.value, reasons: reasons.value }, auth: auth() });
          announce("Appeal decided");
          await Promise.allSettled([loadAppeals(), loadDecisions()]);
        } catch (err) {
          showError(error, err);
        }
      },
    },
    el("p", {}, `Appeal ${a.id} (${a.role}) against decision ${a.decision_id}, lodged ${formatTime(a.lodged_at)}`),
    el("label", { for: outcome.id }, "Outcome"),
    outcome,
    el("label", { for: reasons.id }, "Reasons (sent to the appellant)"),
    reasons,
    el("button", { type: "submit" }, "Decide the appeal"),
    error,
  );
  return el("li", {}, form);
}

async function loadOrders() {
  if (!me.roles.includes("admin")) {
    $("#order").hidden = true;
    return;
  }
  const { orders } = await api("/api/admin/orders", { auth: auth() });
  $("#orders").replaceChildren(
    ...orders.map((o) =>
      el(
        "li",
        {},
        `${o.member_state} · ${o.authority} · ${o.kind} · ${o.state}`,
        o.effect_given_at ? ` · effect after ${((o.effect_given_at - o.received_at) / 3600).toFixed(1)} h` : "",
        ...orderActions(o),
      ),
    ),
  );
}

// Acting on an order: withhold the content where the order applies (a decision with its statement),
// or record that effect was given without a decision (e.g. information provided under Art. 10).
function orderActions(o) {
  if (o.state !== "receipt_confirmed") return [];
  const act = async (body) => {
    try {
      await api(`/api/admin/orders/${o.id}/act`, { method: "POST", body, auth: auth() });
      announce("Effect given to the order");
      await Promise.allSettled([loadOrders(), loadDecisions()]);
    } catch (err) {
      showError($("#order-error"), err);
    }
  };
  const actions = [];
  if (o.kind === "act_against_content" && o.territorial_scope.length) {
    const decision = {
      action: "withhold",
      countries: o.territorial_scope,
      ground: "illegal",
      legal_ground: o.legal_basis,
      legal_explanation: o.reasons.slice(0, 2000),
      category: o.category,
    };
    actions.push(" ", el("button", { type: "button", onclick: () => act({ outcome: "effect_given", decision }) }, `Withhold in ${o.territorial_scope.join(", ")}`));
  }
  actions.push(" ", el("button", { type: "button", class: "secondary", onclick: () => act({ outcome: "effect_given" }) }, "Record effect given"));
  return actions;
}

async function recordOrder(event) {
  event.preventDefault();
  showError($("#order-error"), null);
  const body = {
    kind: $("#o-kind").value,
    authority: $("#o-authority").value,
    member_state: $("#o-state").value,
    legal_basis: $("#o-basis").value,
    reasons: $("#o-reasons").value,
    target_kind: $("#o-kind-target").value,
    target_id: $("#o-target").value.trim(),
    territorial_scope: list($("#o-scope").value),
    category: $("#o-category").value,
  };
  try {
    await api("/api/admin/orders", { method: "POST", body, auth: auth() });
    announce("Order recorded; receipt confirmed");
    await loadOrders();
  } catch (err) {
    showError($("#order-error"), err);
  }
}

function showReport(event) {
  if (event) event.preventDefault();
  const q = `from=${$("#r-from").value}&to=${$("#r-to").value}`;
  $("#report-frame").src = `/transparency?${q}`;
  $("#sor-export").onclick = (e) => {
    e.preventDefault();
    download(`/api/admin/sor-export?${q}`, "statements.ndjson");
  };
}

async function verifyAudit() {
  try {
    const r = await api("/api/admin/audit/verify", { auth: auth() });
    $("#audit-result").textContent = r.ok ? `Audit log intact: ${r.checked} entries verified.` : `Audit log broken at entry ${r.first_bad_seq}: ${r.problem}`;
  } catch (err) {
    $("#audit-result").textContent = err.message;
  }
}

$("#queue-refresh").addEventListener("click", loadQueue);
$("#decisions-refresh").addEventListener("click", loadDecisions);
$("#appeals-refresh").addEventListener("click", loadAppeals);
$("#decide").addEventListener("submit", decide);
$("#order").addEventListener("submit", recordOrder);
$("#report").addEventListener("submit", showReport);
$("#audit-verify").addEventListener("click", verifyAudit);
start();
