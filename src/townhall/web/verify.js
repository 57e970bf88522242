// Checking a replay in the browser, as `townhall verify` does (decision 0004): the Ed25519 signature of the
// manifest under a published key, the hash chain over every segment, and each segment's bytes as played.
// Never trusts the server's word: every check is recomputed here with WebCrypto.

const CHAIN_VERSION = "townhall-replay-chain/v1";

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => Uint8Array.from(text.match(/../g) || [], (h) => parseInt(h, 16));

export async function sha256hex(data) {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

function unb64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

// The signed bytes: sorted keys, no spaces, ASCII only (as Python's json.dumps(sort_keys, ensure_ascii)).
export function canonical(value) {
  if (value === null || typeof value !== "object") {
    return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  }
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${canonical(k)}:${canonical(value[k])}`).join(",")}}`;
}

function u64be(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

async function nextHead(previous, sha256, msn, mediaTime) {
  const parts = [unhex(previous), unhex(sha256), u64be(msn), u64be(mediaTime)];
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return hex(await crypto.subtle.digest("SHA-256", data));
}

async function checkSignature(payload, signature, jwks) {
  const jwk = (jwks.keys || []).find((k) => k.kid === signature.kid && k.kty === "OKP" && k.crv === "Ed25519");
  if (!jwk) return `the manifest is signed by key “${signature.kid}”, which is not among the platform's published keys`;
  try {
    const key = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: jwk.x }, { name: "Ed25519" }, false, ["verify"]);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, unb64url(signature.sig), new TextEncoder().encode(canonical(payload)));
    return ok ? null : `the manifest signature does not verify under key “${signature.kid}”: it was altered or forged`;
  } catch (err) {
    return `this browser cannot check Ed25519 signatures (${err.name}); use \`townhall verify\``;
  }
}

async function checkChain(payload) {
  let head = await sha256hex(`${CHAIN_VERSION}:${payload.space_id}`);
  let lastMsn = -1;
  for (const s of payload.segments) {
    if (s.msn <= lastMsn) return `the manifest's segment list is out of order at segment ${s.msn}`;
    head = await nextHead(head, s.sha256, s.msn, s.media_time);
    if (head !== s.head) return `the manifest's hash chain breaks at segment ${s.msn}`;
    lastMsn = s.msn;
  }
  if (payload.final_head !== head) return "the manifest's final head is not the head of its chain";
  return null;
}

function playlistUris(text) {
  const uris = [];
  let gap = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    if (line === "#EXT-X-GAP") gap = true;
    else if (!line.startsWith("#")) {
      if (!gap) uris.push(line);
      gap = false;
    }
  }
  return uris;
}

// A replay's evidence, checked up front (signature, chain, playlist) and then segment by segment.
export class ReplayCheck {
  constructor() {
    this.problems = [];
    this.payload = null;
    this.signature = null;
    this.bySegment = new Map(); // uri -> manifest entry
    this.files = new Map(); // other signed files (init.mp4, audio.m4a) -> sha256
    this.checked = new Map(); // uri -> true (matches) / false (changed)
    this.listeners = [];
  }

  static async load(info) {
    const check = new ReplayCheck();
    const [manifestText, jwks, playlist] = await Promise.all([
      fetch(info.manifest_url).then((r) => r.text()),
      fetch(info.keys_url).then((r) => r.json()),
      fetch(info.playlist_url).then((r) => r.text()),
    ]);
    let doc;
    try {
      doc = JSON.parse(manifestText);
    } catch {
      check.problems.push("the manifest cannot be read");
      return check;
    }
    check.payload = doc.payload;
    check.signature = doc.signature || {};
    if (!check.payload || !Array.isArray(check.payload.segments)) {
      check.problems.push("the manifest has no payload");
      return check;
    }
    for (const s of check.payload.segments) check.bySegment.set(s.uri, s);
    for (const [name, sha256] of Object.entries(check.payload.files || {})) check.files.set(name, sha256);
    const signed = await checkSignature(check.payload, check.signature, jwks);
    if (signed) check.problems.push(signed);
    const chain = await checkChain(check.payload);
    if (chain) check.problems.push(chain);
    for (const uri of playlistUris(playlist)) {
      if (!check.bySegment.has(uri)) check.problems.push(`a segment that is not in the signed manifest was added: ${uri}`);
    }
    return check;
  }

  get verified() {
    return this.problems.length === 0;
  }

  onChange(fn) {
    this.listeners.push(fn);
  }

  // Check a file's bytes (as the player is about to play them, or fetched) against the signed manifest: true
  // when they are what was signed. Every load is hashed (a file fetched again may have changed since); each
  // segment counts once.
  async segment(uri, bytes) {
    const name = uri.split("?")[0].split("/").pop();
    const entry = this.bySegment.get(name);
    const expected = entry ? entry.sha256 : this.files.get(name);
    if (!expected) {
      this.problem(`${name} is not in the signed manifest`);
      return false;
    }
    const matches = (await sha256hex(bytes)) === expected;
    if (entry) this.checked.set(name, matches && this.checked.get(name) !== false);
    if (!matches) {
      this.problem(entry ? `segment ${entry.msn} (${name}) was changed: its SHA-256 does not match the signed manifest` : `${name} was changed: its SHA-256 does not match the signed manifest`);
    }
    for (const fn of this.listeners) fn(this);
    return matches;
  }

  problem(text) {
    if (!this.problems.includes(text)) this.problems.push(text);
  }

  async checkAll(baseUrl) {
    for (const uri of this.bySegment.keys()) {
      if (this.checked.has(uri)) continue;
      const response = await fetch(new URL(uri, baseUrl));
      if (!response.ok) {
        this.problems.push(`segment ${this.bySegment.get(uri).msn} (${uri}) was dropped: the file is missing`);
        this.checked.set(uri, false);
        continue;
      }
      await this.segment(uri, await response.arrayBuffer());
    }
    for (const fn of this.listeners) fn(this);
  }

  summary() {
    const total = this.bySegment.size;
    const matched = Array.from(this.checked.values()).filter(Boolean).length;
    const gaps = this.payload && this.payload.gaps ? this.payload.gaps.length : 0;
    if (!this.verified) return `NOT verified: ${this.problems[0]}`;
    return (
      `Verified: signed by key “${this.signature.kid}”, hash chain intact over ${total} segments` +
      `${gaps ? ` (${gaps} gap${gaps > 1 ? "s" : ""} recorded)` : ""}; ${matched} of ${total} segments checked byte for byte.`
    );
  }
}
