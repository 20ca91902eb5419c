// The dashboard's only door to the proxy: the token, every HTTP call, the live feed, and the
// functions that turn the backend's JSON (frontdoor/static/API.md) into the shapes the panels use.
// When a backend shape changes, this is the one file to adapt.

import { workerLabel } from "./names.js";

const TOKEN_KEY = "ccp.dashboard.token";

export class AuthError extends Error {}
export const REFUSED = "The token was refused. Enter the proxy's PROXY_AUTH_TOKEN or an admin key.";
export const CLIENT_ROLE = "This key's role is client: the dashboard needs an admin key.";
export class Unavailable extends Error {}
export class Unreachable extends Unavailable {}

// -- token ----------------------------------------------------------------------------------

/** Moves a `#token=...` fragment into sessionStorage and removes it from the address bar. */
export function adoptFragmentToken() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const token = params.get("token");
  if (token) {
    setToken(token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  }
}

export const getToken = () => sessionStorage.getItem(TOKEN_KEY) || "";
export const setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token.trim());
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

function authHeaders(extra) {
  return { Authorization: `Bearer ${getToken()}`, ...extra };
}

// -- HTTP -----------------------------------------------------------------------------------

async function request(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: authHeaders(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    throw new Unreachable(`network: ${err.message}`);
  }
  if (response.status === 401) throw new AuthError(REFUSED);
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  const message = payload && payload.error && payload.error.message;
  if (response.status === 403 && payload && payload.error && payload.error.code === "insufficient_role") {
    throw new AuthError(CLIENT_ROLE);
  }
  // An unknown path or method means this server has no such endpoint (yet): the panel says so.
  if (response.status === 405 || response.status === 501 || (response.status === 404 && (!message || message === "unknown path"))) {
    throw new Unavailable(`${path}: not available (${response.status})`);
  }
  if (!response.ok) throw new Error(message || `${path}: HTTP ${response.status}`);
  return payload;
}

const getJSON = (path) => request("GET", path);
const postJSON = (path, body) => request("POST", path, body ?? {});

/** Checks a token without storing it: resolves "" when it may open the dashboard, else why not. */
export async function checkToken(token) {
  const response = await fetch("/metrics", {
    headers: { Authorization: `Bearer ${token}` },
    cache: "no-store",
    credentials: "omit",
  });
  if (response.status === 401) return "That token was refused.";
  if (response.status === 403) return CLIENT_ROLE;
  return "";
}

// -- normalisers (shapes: frontdoor/static/API.md) ------------------------------------------

const num = (v) => (v === null || v === undefined || v === "" ? 0 : Number(v) || 0);
const str = (v) => (v === null || v === undefined ? "" : String(v));

/** Unix seconds (every time the API sends: API.md) -> ms for Date; 0 when absent. */
export function toMs(ts) {
  return num(ts) * 1000;
}

function tokenCounts(raw) {
  raw = raw || {};
  const input = num(raw.input);
  const output = num(raw.output);
  return {
    input,
    output,
    total: num(raw.total) || input + output,
    requests: num(raw.requests),
    errors: num(raw.errors),
    cacheRead: num(raw.cacheRead),
    cacheWrite: num(raw.cacheWrite),
  };
}

function normalizeTokens(raw) {
  raw = raw || {};
  const usage = raw.usage || {};
  const byModel = {};
  for (const [model, counts] of Object.entries(raw.byModel || {})) byModel[model] = tokenCounts(counts);
  return {
    totals: tokenCounts(raw.totals),
    byModel,
    windows: {
      "1h": tokenCounts(usage.last1h),
      "4h": tokenCounts(usage.last4h),
      "8h": tokenCounts(usage.last8h),
      week: tokenCounts(usage.thisWeek),
    },
    live: null, // /metrics has no live figures: the page estimates them from `chunk` events
    liveByModel: {},
  };
}

const SERVED = ["live", "warm", "cold"];

/** A CLI worker's pool sizing (`sessions.byWorker.*.pool`); null for an api worker, a workerd
 * that reports none, or a server without it. */
function normalizePool(raw) {
  if (!raw || typeof raw !== "object") return null;
  return {
    target: num(raw.target),
    floor: num(raw.floor),
    ceiling: num(raw.ceiling),
    ready: num(raw.ready),
    starting: num(raw.starting),
    memory: num(raw.memoryBytes),
    budget: num(raw.memoryBudgetBytes),
    claimedStarting: num(raw.claimedStarting),
  };
}

/** One worker's CLI processes and turns (`sessions.byWorker`); null from a server without them. */
function normalizeCli(raw) {
  if (!raw || typeof raw !== "object") return null;
  const served = {};
  for (const how of SERVED) served[how] = num((raw.served || {})[how]);
  const rebuilds = {};
  for (const [reason, n] of Object.entries(raw.rebuilds || {})) if (num(n)) rebuilds[str(reason)] = num(n);
  return {
    warm: num(raw.warm),
    parked: num(raw.parked),
    running: num(raw.running),
    idleRss: num(raw.idleRssBytes),
    runningRss: num(raw.runningRssBytes),
    served,
    turns: SERVED.reduce((a, how) => a + served[how], 0),
    rebuilds,
    fallbacks: (raw.warmFallbacks || []).map(str),
    pool: normalizePool(raw.pool),
  };
}

function normalizeWorker(w, sessions) {
  return {
    name: str(w.name),
    mode: str(w.mode),
    cliVersion: str(w.cliVersion) || str(sessions && sessions.cliVersion),
    cli: normalizeCli(sessions),
    state: str(w.state) || "unknown",
    draining: Boolean(w.draining),
    inFlight: num(w.inFlight),
    maxConcurrent: num(w.maxConcurrent),
    requests: num(w.requests),
    errors: num(w.errors),
    errorsByCategory: w.errorsByCategory || {},
    attempts: num(w.attempts),
    attemptErrors: num(w.attemptErrors),
    lastError: str(w.lastError),
    lastUsed: toMs(w.lastRequestAt),
    coolingUntil: toMs(w.coolingUntil),
    coolingReason: str(w.coolingReason),
    coolingBasis: str(w.coolingBasis),
    quotaStatus: str(w.quotaStatus),
    quotaResetsAt: toMs(w.quotaResetsAt),
    credential: str(w.credential),
    address: str(w.address),
    quota: normalizeQuota(w.quota),
  };
}

/** The `quota` object of a worker -> [{window, utilization (0..1 or null), resetsAt (ms), status}]. */
function normalizeQuota(raw) {
  return Object.entries(raw || {}).map(([window, q]) => ({
    window,
    utilization: q && q.utilization !== null && q.utilization !== undefined ? Number(q.utilization) : null,
    resetsAt: toMs(q && q.resets_at),
    status: str(q && q.status),
    seenAt: toMs(q && q.seen_at),
  }));
}

function normalizeQueue(raw, served) {
  raw = raw || {};
  const waits = raw.waits || {};
  const depth = raw.bySource || {};
  const rejected = raw.rejectedBySource || {};
  const names = [...new Set([...Object.keys(depth), ...Object.keys(rejected)])];
  return {
    active: num(raw.inFlight),
    max: num(raw.maxConcurrent),
    queued: num(raw.depth),
    maxQueued: num(raw.maxQueueTotal),
    maxPerSource: num(raw.maxQueuePerSource),
    served,
    timedOut: num(raw.timeouts),
    rejected: num(raw.rejected),
    rateLimited: num(raw.rateLimited),
    waits: waits.count
      ? { count: num(waits.count), avg: num(waits.avgMs), p50: num(waits.p50Ms), p95: num(waits.p95Ms), max: num(waits.maxMs) }
      : null,
    sources: names.map((source) => ({ source, depth: num(depth[source]), rejected: num(rejected[source]) })),
  };
}

/** One row per worker and model family: the families with a limit, plus any with usage. */
function normalizeLimits(raw, workers) {
  raw = raw || {};
  const limits = raw.limits || {};
  const rows = new Map();
  const row = (worker, family) => {
    const key = `${worker}\u0000${family}`;
    if (!rows.has(key)) {
      const l = limits[family] || {};
      rows.set(key, { worker, family, rpm: { used: 0, limit: num(l.rpm) }, tpm: { used: 0, limit: num(l.tpm) } });
    }
    return rows.get(key);
  };
  for (const w of workers) for (const family of Object.keys(limits)) row(w.name, family);
  for (const u of raw.usage || []) {
    const r = row(str(u.worker), str(u.family));
    r.rpm = { used: num(u.requests), limit: num(u.rpm) || r.rpm.limit };
    r.tpm = { used: num(u.tokens), limit: num(u.tpm) || r.tpm.limit };
  }
  return [...rows.values()];
}

function normalizeErrors(raw) {
  raw = raw || {};
  const counts = {};
  for (const [k, v] of Object.entries(raw.byCategory || {})) counts[k] = num(v);
  return {
    counts,
    total: num(raw.total),
    recent: (raw.recent || []).map((e) => ({
      ts: toMs(e.ts),
      worker: str(e.worker),
      category: str(e.category),
      model: str(e.model),
      requestId: str(e.requestId),
      detail: [str(e.status), str(e.model), str(e.requestId)].filter(Boolean).join(" · "),
    })),
  };
}

function histogramAvgMs(h) {
  return h && num(h.count) ? (num(h.sumS) / num(h.count)) * 1000 : null;
}

/** Config as titled groups of [label, value, kind]; kind "ms" values are milliseconds. */
function normalizeConfig(raw) {
  if (!raw) return null;
  const used = new Set();
  const take = (key, label, kind) => {
    if (raw[key] === undefined) return null;
    used.add(key);
    return [label, raw[key], kind || "text"];
  };
  const groups = [
    {
      title: "concurrency",
      items: [
        take("maxConcurrent", "max concurrent"),
        take("maxQueueTotal", "queue total"),
        take("maxQueuePerSource", "queue per source"),
        take("queueTimeoutMs", "queue timeout", "ms"),
      ],
    },
    {
      title: "timeouts",
      items: [
        take("streamTimeoutMs", "stream", "ms"),
        take("syncTimeoutMs", "non-streaming", "ms"),
        take("maxProcessAgeMs", "process age", "ms"),
        take("maxIdleMs", "process idle", "ms"),
        take("healthIntervalMs", "health check every", "ms"),
      ],
    },
    {
      title: "routing",
      items: [
        take("workerCount", "workers"),
        take("primaryWorker", "primary worker"),
        take("affinityTtlMs", "affinity ttl", "ms"),
        take("maxAttempts", "max attempts"),
        take("overflowToApi", "overflow to api"),
        take("retentionDays", "retention (days)"),
      ],
    },
  ];
  if (Array.isArray(raw.workers)) {
    used.add("workers");
    groups.push({
      title: "workers",
      items: raw.workers.map((w) => [
        workerLabel(w.name),
        [str(w.mode), w.maxConcurrent ? `max ${num(w.maxConcurrent)}` : "", w.local === false ? "remote" : "local"].filter(Boolean).join(" · "),
        "text",
      ]),
    });
  }
  if (raw.rateLimits && typeof raw.rateLimits === "object") {
    used.add("rateLimits");
    groups.push({
      title: "rate limits",
      items: Object.entries(raw.rateLimits).map(([family, l]) => [family, `${num(l.rpm)} rpm · ${num(l.tpm).toLocaleString("en-US")} tpm`, "text"]),
    });
  }
  const rest = Object.keys(raw).filter((k) => !used.has(k));
  if (rest.length) {
    groups.push({
      title: "other",
      items: rest.map((k) => [k, typeof raw[k] === "object" ? JSON.stringify(raw[k]) : raw[k], /Ms$/.test(k) ? "ms" : "text"]),
    });
  }
  for (const g of groups) g.items = g.items.filter(Boolean);
  return groups.filter((g) => g.items.length);
}

export function normalizeMetrics(raw) {
  raw = raw || {};
  const tokens = normalizeTokens(raw.tokens);
  const sessions = raw.sessions || {};
  const byWorker = sessions.byWorker || {};
  const workers = (raw.workers || []).map((w) => normalizeWorker(w, byWorker[w.name]));
  const totals = raw.sessions ? normalizeCli(sessions) : null; // served and rebuilds, all workers
  const totalRequests = workers.reduce((a, w) => a + w.requests, 0);
  for (const w of workers) w.share = totalRequests ? w.requests / totalRequests : 0;
  const affinity = raw.affinity || null;
  const latency = raw.latency || {};
  return {
    version: str(raw.version),
    uptimeS: raw.uptimeS === undefined ? null : num(raw.uptimeS),
    fetchedAt: Date.now(),
    tokens,
    workers,
    queue: normalizeQueue(raw.queue, tokens.totals.requests),
    latency: { ttftAvgMs: histogramAvgMs(latency.ttft), durationAvgMs: histogramAvgMs(latency.duration) },
    affinity: affinity && {
      hitRate: num(affinity.hitRate),
      hits: num(affinity.hits),
      misses: num(affinity.misses),
      moves: num(affinity.moves),
      lookups: num(affinity.lookups),
      active: num(affinity.active),
    },
    sessions: totals && { served: totals.served, turns: totals.turns, rebuilds: totals.rebuilds },
    limits: normalizeLimits(raw.rateLimits, workers),
    errors: normalizeErrors(raw.errors),
    processes: raw.processes || null,
    config: normalizeConfig(raw.config),
    keyLoad: new Map((raw.keys || []).map((k) => [str(k.id), keyLoad(k)])),
    storage: normalizeStorage(raw.storage),
  };
}

/** Whether the accounting database takes writes (/metrics `storage`). */
function normalizeStorage(raw) {
  raw = raw || {};
  return {
    degraded: raw.state === "degraded",
    pendingWrites: num(raw.pendingWrites),
    dropped: num(raw.dropped),
    lastError: str(raw.lastError),
  };
}

/** A key's requests running and waiting now, from /metrics `keys[]` (by its id). */
function keyLoad(raw) {
  raw = raw || {};
  return { running: num(raw.running), queued: num(raw.queued) };
}

function keyUsage(raw) {
  raw = raw || {};
  return { requests: num(raw.requests), tokens: num(raw.total_tokens), errors: num(raw.errors), cost: num(raw.cost_usd) };
}

/** One key of GET /admin/keys (API.md "Keys"); its secret is never in it. */
export function normalizeKey(raw) {
  raw = raw || {};
  const usage = raw.usage || {};
  return {
    id: str(raw.id),
    name: str(raw.name),
    role: str(raw.role),
    forOwner: raw.for_owner !== false,
    prefix: str(raw.prefix),
    createdAt: num(raw.created_at),
    lastUsedAt: num(raw.last_used_at),
    revokedAt: num(raw.revoked_at),
    policy: raw.policy && typeof raw.policy === "object" ? raw.policy : {},
    today: keyUsage(usage.today),
    week: keyUsage(usage.this_week),
    month: keyUsage(usage.this_month),
    budgets: (Array.isArray(raw.budgets) ? raw.budgets : []).map((b) => ({
      period: str(b.period),
      unit: str(b.unit),
      limit: num(b.limit),
      used: num(b.used),
    })),
  };
}

function normalizeKeys(raw) {
  return { keys: (raw && Array.isArray(raw.keys) ? raw.keys : []).map(normalizeKey), version: num(raw && raw.version) };
}

export function normalizeProcesses(raw) {
  raw = raw || {};
  const processes = (raw.processes || []).map((p) => ({
    pid: num(p.pid),
    worker: str(p.worker),
    requestId: str(p.requestId),
    model: str(p.model),
    state: str(p.state),
    ageS: p.ageS === undefined || p.ageS === null ? null : num(p.ageS),
    idleS: p.idleS === undefined || p.idleS === null ? null : num(p.idleS),
    stale: Boolean(p.stale),
    staleReason: str(p.staleReason),
    rssBytes: num(p.rssBytes),
    conversation: str(p.conversation),
  }));
  return {
    processes,
    maxAgeMs: num(raw.maxProcessAgeMs),
    maxIdleMs: num(raw.maxIdleMs),
    unreachable: (raw.unreachableWorkers || []).map(str),
  };
}

/** Events are {id, type, ts (unix s), data: {...snake_case}}. */
export function normalizeEvent(raw) {
  raw = raw || {};
  return {
    id: num(raw.id),
    type: str(raw.type) || "event",
    ts: toMs(raw.ts) || Date.now(),
    data: raw.data && typeof raw.data === "object" ? raw.data : {},
  };
}

function normalizeHistory(raw) {
  raw = raw || {};
  return {
    window: str(raw.window),
    bucketS: num(raw.bucketSeconds),
    points: (raw.points || []).map((p) => ({
      t: toMs(p.ts),
      requests: num(p.requests),
      errors: num(p.errors),
      input: num(p.input),
      output: num(p.output),
      tokens: num(p.total) || num(p.input) + num(p.output),
      avgTtftMs: p.avgTtftMs,
      avgDurationMs: p.avgDurationMs,
    })),
  };
}

// -- endpoints ------------------------------------------------------------------------------

export async function fetchHealth() {
  const response = await fetch("/health", { cache: "no-store", credentials: "omit" });
  return response.json();
}
export const fetchMetrics = async () => normalizeMetrics(await getJSON("/metrics"));
export const fetchHistory = async (win) => normalizeHistory(await getJSON(`/metrics/history?window=${encodeURIComponent(win)}`));
export const fetchProcesses = async () => normalizeProcesses(await getJSON("/zombies"));
export async function fetchEvents(sinceId, limit) {
  const raw = await getJSON(`/events?since_id=${encodeURIComponent(sinceId)}&limit=${encodeURIComponent(limit)}`);
  return { events: ((raw && raw.events) || []).map(normalizeEvent), lastId: num(raw && raw.lastId) };
}
export const killProcess = (pid) => postJSON("/kill", { pid: Number(pid) });
export const fetchKeys = async () => normalizeKeys(await getJSON("/admin/keys"));
/** {key, secret}: the secret is in this answer only. */
export const createKey = async (body) => {
  const made = await postJSON("/admin/keys", body);
  return { key: normalizeKey(made.key), secret: str(made.secret) };
};
export const revokeKey = (id) => request("DELETE", `/admin/keys/${encodeURIComponent(id)}`);
export const drainWorker = (name) => postJSON(`/admin/workers/${encodeURIComponent(name)}/drain`);
export const resumeWorker = (name) => postJSON(`/admin/workers/${encodeURIComponent(name)}/resume`);

// -- live feed ------------------------------------------------------------------------------

/**
 * Opens GET /stream with the bearer token (fetch + a streaming reader: EventSource cannot send
 * headers), parses SSE frames and calls onEvent(normalizedEvent). Each (re)connect asks for the
 * events after sinceId() so nothing is lost or repeated; reconnects back off exponentially
 * (1 s doubling to 30 s, with jitter); onState("live" | "connecting" | "down", detail).
 * Returns a function that closes the feed for good.
 */
export function openStream({ sinceId, onEvent, onState, onAuthError }) {
  let closed = false;
  let controller = null;
  let delay = 1000;

  async function connectOnce() {
    controller = new AbortController();
    onState("connecting");
    const path = `/stream?since_id=${encodeURIComponent(sinceId())}`;
    const headers = authHeaders({ Accept: "text/event-stream" });
    const response = await fetch(path, { headers, signal: controller.signal, cache: "no-store", credentials: "omit" });
    if (response.status === 401) throw new AuthError(REFUSED);
    if (response.status === 403) throw new AuthError(CLIENT_ROLE);
    if (!response.ok || !response.body) throw new Unavailable(`/stream: HTTP ${response.status}`);
    onState("live");
    delay = 1000;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      const frames = buffer.split(/\r?\n\r?\n/);
      buffer = frames.pop();
      for (const frame of frames) dispatchFrame(frame);
    }
  }

  /** One SSE frame: `data:` lines carry the JSON event; comments, `retry:` and `id:` are skipped. */
  function dispatchFrame(frame) {
    const data = [];
    for (const line of frame.split(/\r?\n/)) {
      if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) return;
    let parsed;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      return;
    }
    onEvent(normalizeEvent(parsed));
  }

  (async () => {
    while (!closed) {
      try {
        await connectOnce();
        if (!closed) onState("down", "the feed ended");
      } catch (err) {
        if (closed) break;
        if (err instanceof AuthError) {
          onAuthError(err.message);
          return;
        }
        onState("down", err.message);
      }
      if (closed) break;
      await new Promise((resolve) => setTimeout(resolve, delay * (0.75 + Math.random() * 0.5)));
      delay = Math.min(delay * 2, 30000);
    }
  })();

  return () => {
    closed = true;
    if (controller) controller.abort();
  };
}
