// N clients retrying with web/backoff.js against a service answering 503 (Retry-After), in simulated
// time: prints, per strategy and scenario, the highest retry rate in any window as a multiple of the
// clients' steady rate. Run by tests/web/test_backoff.py: `node backoff_sim.mjs <backoff.js URL>`.

const { backoffDelay } = await import(process.argv[2]);

function rng(seed) {
  // mulberry32: the same draws every run
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STRATEGIES = {
  helper: (k, ra, P, random) => backoffDelay(k, ra, { baseMs: P * 1000, capMs: 120_000, random }) / 1000,
  fixed_1s: () => 1,
  doubling_no_jitter: (k, ra, P) => ra + Math.min(120, P * 2 ** k),
};

// Each client calls every P seconds when all is well (steady rate N/P); the service answers 503 with
// Retry-After for [0, outage). "staggered": clients in steady state, phases uniform; "together": every
// client's call lands at t=0 (a page opened at the announced start). Windows of `win` seconds.
function run(strategy, scenario, { N = 5000, P = 10, outage = 60, until = 150, retryAfter = 1, win = 2, seed = 7 } = {}) {
  const random = rng(seed);
  const delay = STRATEGIES[strategy];
  const next = new Float64Array(N);
  const attempt = new Int32Array(N);
  for (let i = 0; i < N; i++) next[i] = scenario === "together" ? 0 : random() * P;
  const windows = Math.ceil(until / win);
  const retries = new Float64Array(windows);
  const heap = Array.from({ length: N }, (_, j) => j); // client indices, earliest call first
  const less = (a, b) => next[heap[a]] < next[heap[b]];
  const swap = (a, b) => ([heap[a], heap[b]] = [heap[b], heap[a]]);
  const down = (k) => {
    for (;;) {
      const l = 2 * k + 1;
      const r = l + 1;
      let m = k;
      if (l < N && less(l, m)) m = l;
      if (r < N && less(r, m)) m = r;
      if (m === k) return;
      swap(k, m);
      k = m;
    }
  };
  for (let k = Math.floor(N / 2); k >= 0; k--) down(k);
  for (;;) {
    const i = heap[0];
    const t = next[i];
    if (t >= until) break;
    if (attempt[i] > 0) retries[Math.floor(t / win)] += 1;
    if (t < outage) {
      attempt[i] += 1;
      next[i] = t + delay(attempt[i], retryAfter, P, random);
    } else {
      attempt[i] = 0;
      next[i] = t + P;
    }
    down(0);
  }
  const steady = (N / P) * win;
  return Math.max(...retries) / steady;
}

const out = {};
for (const strategy of Object.keys(STRATEGIES)) {
  for (const scenario of ["staggered", "together"]) out[`${strategy}/${scenario}`] = run(strategy, scenario);
}
console.log(JSON.stringify(out));
