// Retrying without storming a recovering service (decision 0010): exponential backoff with full jitter,
// never sooner than the server's Retry-After. The one helper every page uses; plain ES module with no
// DOM, so tests/web/ runs it under node. The Python twin is townhall/domain/backoff.py.

export const BACKOFF = { baseMs: 1000, capMs: 60_000 };

// Worth another try: the network failed, the server is overloaded or down (any other 4xx is an answer).
export function retryable(status) {
  return status === 0 || status === 429 || status >= 500;
}

// Seconds in a Retry-After header (delta-seconds or an HTTP date); 0 when absent or unreadable.
export function retryAfterSeconds(header, nowMs = Date.now()) {
  if (header === null || header === undefined || header === "") return 0;
  const text = String(header).trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, (at - nowMs) / 1000) : 0;
}

// The wait before retry number `attempt` (1 for the first retry): the server's Retry-After, then a
// uniform draw in [0, min(cap, base * 2^attempt)). `baseMs` is the call's own steady cadence (a poll
// every 5 s: 5000), so N clients retrying never call more often, together, than they do when all is well.
export function backoffDelay(attempt, retryAfterS = 0, { baseMs = BACKOFF.baseMs, capMs = BACKOFF.capMs, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt));
  const after = Math.max(0, Number(retryAfterS) || 0) * 1000;
  return after + random() * ceiling;
}

// Call `attempt()` until it resolves or throws something not worth retrying (`err.status` decides),
// sleeping `backoffDelay` between tries; `onRetry(err, ms)` hears each wait.
export async function withBackoff(attempt, { baseMs, capMs, onRetry = () => {}, sleep } = {}) {
  const wait = sleep || ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      if (!retryable(err.status ?? 0)) throw err;
      const ms = backoffDelay(n, err.retryAfter || 0, { baseMs, capMs });
      onRetry(err, ms);
      await wait(ms);
    }
  }
}
