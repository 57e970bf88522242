// The "under attack" proof of work (decision 0010): find a nonce such that SHA-256(challenge ":" nonce)
// starts with `bits` zero bits. Runs in a Web Worker (pow.js is also the worker's script) so the page
// stays responsive; where workers are unavailable, on the page in batches.

const encoder = new TextEncoder();

function zeroBits(bytes) {
  let n = 0;
  for (const b of bytes) {
    if (b === 0) {
      n += 8;
      continue;
    }
    return n + Math.clz32(b) - 24;
  }
  return n;
}

async function search(challenge, bits, start = 0, step = 1) {
  for (let n = start; ; n += step) {
    const nonce = String(n);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`${challenge}:${nonce}`)));
    if (zeroBits(digest) >= bits) return nonce;
  }
}

// In a worker: answer {challenge, bits} with {nonce}.
if (typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  self.onmessage = async (e) => self.postMessage({ nonce: await search(e.data.challenge, e.data.bits) });
}

export async function solve(challenge, bits) {
  if (!bits) return "0";
  if (typeof Worker !== "undefined") {
    try {
      const worker = new Worker(new URL("./pow.js", import.meta.url), { type: "module" });
      const nonce = await new Promise((resolve, reject) => {
        worker.onmessage = (e) => resolve(e.data.nonce);
        worker.onerror = reject;
        worker.postMessage({ challenge, bits });
      });
      worker.terminate();
      return nonce;
    } catch (err) {
      console.warn("proof of work: no worker, solving on the page", err);
    }
  }
  return search(challenge, bits);
}
