// Speaking from the browser: the microphone published over WHIP (RFC 9725), sendrecv, so the same peer
// connection brings back the mix-minus (everyone but you). Never trickles ICE: the media node does not.

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
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
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

// Publish `stream` to `whipUrl` with the speaker token; the mix-minus plays through `audioEl`.
export async function publish(stream, whipUrl, token, audioEl) {
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
    throw new WhipError(response.status, body.code || "whip_refused", body.message || `Publishing was refused (${response.status}).`);
  }
  const resource = new URL(response.headers.get("Location"), whipUrl).toString();
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  return new Publication(pc, stream, track, resource, token);
}

export class Publication {
  constructor(pc, stream, track, resource, token) {
    this.pc = pc;
    this.stream = stream;
    this.track = track;
    this.resource = resource;
    this.token = token;
  }

  // Stop sending sound at the source too (the media node also drops a muted speaker's audio).
  setMuted(muted) {
    this.track.enabled = !muted;
  }

  async stop() {
    this.pc.close();
    for (const t of this.stream.getTracks()) t.stop();
    try {
      await fetch(this.resource, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${this.token}` },
        keepalive: true,
      });
    } catch {
      // the session also ends when the peer connection goes away
    }
  }
}
