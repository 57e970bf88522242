// Speaking from the browser: the microphone published over WHIP (RFC 9725), sendrecv, so the same peer
// connection brings back the mix-minus (everyone but you). Never trickles ICE: the media node does not.

import { backoffDelay, retryAfterSeconds } from "./backoff.js";

const GATHER_TIMEOUT_MS = 3000;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export class WhipError extends Error {
  constructor(status, code, message, retryAfter = 0) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter; // seconds (Retry-After), 0 when the server did not say
  }
}

// Ask for the microphone; a refusal becomes a message the person can act on.
export async function microphone() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new WhipError(0, "no_microphone", "This browser cannot use a microphone here (it needs https or localhost).");
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
  } catch (err) {
    throw new WhipError(0, "microphone_refused", `The microphone is not available: ${err.message || err.name}. Allow it and try again.`);
  }
}

// Backoff between attempts to publish again (web/backoff.js): full jitter over 0.5 s doubling to at
// most 10 s, after the server's Retry-After.
const RETRY = { baseMs: 500, capMs: 10_000 };
const DISCONNECTED_GRACE_MS = 3000; // "disconnected" often heals by itself; past this, publish again

// Worth another try: the server or the network failed (a media node died, no node holds the space yet,
// too many attempts). A 401 is retried with a fresh token; any other 4xx means "not allowed" and stops.
function retryable(err) {
  const status = err.status || 0;
  return status === 0 || status === 401 || status === 429 || status >= 500;
}

// One WHIP session: `stream` sent to `whipUrl` with `token`; the mix-minus plays through `audioEl`.
async function offer(stream, whipUrl, token, audioEl) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  const [track] = stream.getAudioTracks();
  pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
  pc.addEventListener("track", (e) => {
    audioEl.srcObject = e.streams[0] || new MediaStream([e.track]);
    audioEl.play().catch(() => {});
  });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  let response;
  try {
    response = await fetch(whipUrl, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
      body: pc.localDescription.sdp,
    });
  } catch (err) {
    pc.close();
    throw new WhipError(0, "network", "The media server cannot be reached.");
  }
  if (response.status !== 201) {
    pc.close();
    let body = {};
    try {
      body = await response.json();
    } catch {
      // not JSON: keep the status
    }
    const wait = retryAfterSeconds(response.headers.get("Retry-After"));
    throw new WhipError(response.status, body.code || "whip_refused", body.message || `Publishing was refused (${response.status}).`, wait);
  }
  const resource = new URL(response.headers.get("Location"), whipUrl).toString();
  try {
    await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  } catch (err) {
    pc.close();
    throw new WhipError(0, "bad_answer", `The media server's answer could not be used: ${err.message}`);
  }
  return { pc, resource };
}

// Publish `stream` with a speaker grant from `grant()` ({whip_url, token}). Returns the Publication at
// once, so a stop cancels its first attempts too; `ready` resolves on air (or stopped) and rejects with a
// refusal. From then on the publication keeps itself on air.
export function publish(stream, grant, audioEl, onState = () => {}) {
  const publication = new Publication(stream, grant, audioEl, onState);
  publication.ready = publication.connect();
  return publication;
}

// A microphone kept on air: when the peer connection fails (or stays disconnected), it publishes the same
// stream again with backoff, through whichever media node now runs the space. `onState(state, err)` hears
// "on-air" (each time it gets there), "reconnecting" and, when a lost session ends in a refusal, "refused".
export class Publication {
  constructor(stream, grant, audioEl, onState) {
    this.stream = stream;
    this.track = stream.getAudioTracks()[0];
    this.grant = grant;
    this.audioEl = audioEl;
    this.onState = onState;
    this.session = null;
    this.token = null;
    this.whipUrl = null;
    this.stopped = false;
    this.retrying = false;
    this.disconnectedTimer = null;
    this.sleeping = null;
  }

  // Until on air (or stopped); a refusal that retrying cannot help releases the microphone and is thrown.
  async connect() {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        if (!this.token) ({ whip_url: this.whipUrl, token: this.token } = await this.grant());
        const session = await offer(this.stream, this.whipUrl, this.token, this.audioEl);
        if (this.stopped) return this.hangUp(session);
        this.watch(session);
        this.onState("on-air");
        return;
      } catch (err) {
        if (this.stopped) return;
        // A refused grant (signed out, no longer a speaker) is final; a refused token is swapped for a fresh one.
        if (!retryable(err) || (err.status === 401 && !this.token)) {
          await this.stop();
          throw err;
        }
        if (err.status === 401) this.token = null;
        this.onState("reconnecting", err);
        await this.sleep(backoffDelay(attempt, err.retryAfter || 0, RETRY));
      }
    }
  }

  watch(session) {
    this.session = session;
    const { pc } = session;
    pc.addEventListener("connectionstatechange", () => {
      if (this.session !== session) return;
      clearTimeout(this.disconnectedTimer);
      if (pc.connectionState === "failed") this.again();
      else if (pc.connectionState === "disconnected") {
        this.disconnectedTimer = setTimeout(() => this.again(), DISCONNECTED_GRACE_MS);
      }
    });
  }

  // The session is lost: hang it up and publish again until on air, stopped or refused.
  async again() {
    if (this.retrying || this.stopped) return;
    this.retrying = true;
    this.onState("reconnecting");
    const lost = this.session;
    this.session = null;
    if (lost) this.hangUp(lost);
    try {
      await this.connect();
    } catch (err) {
      this.onState("refused", err);
    } finally {
      this.retrying = false;
    }
  }

  sleep(ms) {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.sleeping = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async hangUp({ pc, resource }) {
    pc.close();
    try {
      await fetch(resource, { method: "DELETE", headers: { Authorization: `Bearer ${this.token}` }, keepalive: true });
    } catch {
      // the session also ends when the peer connection goes away
    }
  }

  // Stop sending sound at the source too (the media node also drops a muted speaker's audio).
  setMuted(muted) {
    this.track.enabled = !muted;
  }

  // An explicit stop: no more retries, the microphone released, the session hung up.
  async stop() {
    this.stopped = true;
    clearTimeout(this.disconnectedTimer);
    if (this.sleeping) this.sleeping();
    const session = this.session;
    this.session = null;
    for (const t of this.stream.getTracks()) t.stop();
    if (session) await this.hangUp(session);
  }
}
