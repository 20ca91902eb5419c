// Dashboard entry point: token handling, polling, the live feed, and wiring panels together.

import * as api from "./api.js";
import { TimeChart } from "./charts.js";
import { byId, fmtDuration, setText } from "./dom.js";
import { KeysPanel } from "./keys.js";
import { LiveFeed } from "./live.js";
import {
  ProcessesPanel,
  WorkersPanel,
  renderConfig,
  renderErrors,
  renderLimits,
  renderLiveBar,
  renderQueue,
  renderTokens,
} from "./panels.js";

const POLL_MS = 2000;
const HISTORY_MS = 10000;
const HEALTH_MS = 10000;
const KEYS_MS = 5000;

const state = {
  metrics: null,
  metricsError: "",
  processes: null,
  keys: null,
  health: null,
  history: null,
  window: "1h",
  streamState: "down",
  stopStream: null,
  timers: [],
  running: false,
  pageOpened: Date.now(),
  historyAt: 0,
  dirty: false,
  frame: 0,
};

let live;
let workers;
let processes;
let keysPanel;
let tokenChart;
let requestChart;

// -- rendering ------------------------------------------------------------------------------

function scheduleRender() {
  state.dirty = true;
  if (!state.frame) state.frame = requestAnimationFrame(render);
}

function render() {
  state.frame = 0;
  if (!state.dirty) return;
  state.dirty = false;
  const m = state.metrics;
  byId("dashboard").classList.toggle("is-stale", Boolean(state.metricsError));
  renderHeader();
  renderTokens(m && m.tokens, live.liveByFamily());
  const liveTokens = m && m.tokens.live ? m.tokens.live : sumLive(live.liveByFamily());
  const procCount = state.processes ? state.processes.processes.length : m && m.processes ? m.processes.total : null;
  renderLiveBar(m ? m.queue.active : 0, m ? m.queue.queued : 0, liveTokens, procCount);
  workers.render(m && m.workers, m && m.affinity, m && m.sessions);
  renderQueue(m && m.queue, m && m.latency);
  renderLimits(m && m.limits);
  renderErrors(m && m.errors);
  renderConfig(m && m.config);
  processes.render(state.processes);
  keysPanel.render(state.keys, m && m.keyLoad);
}

function sumLive(byFamily) {
  const out = { input: 0, output: 0, total: 0 };
  for (const c of Object.values(byFamily)) {
    out.input += c.input;
    out.output += c.output;
    out.total += c.total;
  }
  return out;
}

function modeLabel(m) {
  const counts = {};
  for (const w of m ? m.workers : []) if (w.mode) counts[w.mode] = (counts[w.mode] || 0) + 1;
  const parts = Object.entries(counts).map(([mode, n]) => `${mode} ×${n}`);
  return parts.length ? parts.join(" · ") : m ? "no workers" : "–";
}

function renderHeader() {
  const m = state.metrics;
  const version = (m && m.version) || (state.health && state.health.version) || "";
  setText(byId("hdr-version"), version ? `v${version}` : "v–");
  setText(byId("hdr-mode"), modeLabel(m));
  const dot = byId("hdr-dot");
  const ok = m && !state.metricsError;
  let cls = "dot-off";
  let text = "offline";
  if (ok && state.streamState === "live") {
    cls = "dot-live";
    text = "live";
  } else if (ok) {
    cls = "dot-warn";
    text = state.streamState === "connecting" ? "connecting feed…" : "polling (feed down)";
  } else if (state.metricsError) {
    text = state.metricsError;
  }
  if (state.health && state.health.status && state.health.status !== "ok" && ok) {
    cls = "dot-warn";
    text += ` · ${state.health.status}`;
  }
  const storage = m && m.storage;
  if (storage && storage.degraded) {
    cls = "dot-warn";
    text += ` · storage failing: ${storage.pendingWrites} writes waiting`;
    if (storage.dropped) text += `, ${storage.dropped} dropped`;
  }
  dot.className = `dot ${cls}`;
  setText(byId("hdr-status"), text);
  byId("hdr-status").title = storage && storage.degraded ? storage.lastError : "";
  renderUptime();
}

function renderUptime() {
  const m = state.metrics;
  let seconds = null;
  if (m && m.uptimeS !== null) seconds = m.uptimeS + (Date.now() - m.fetchedAt) / 1000;
  setText(
    byId("hdr-uptime"),
    seconds !== null ? `up ${fmtDuration(seconds)}` : `page open ${fmtDuration((Date.now() - state.pageOpened) / 1000)}`,
  );
}

function renderCharts() {
  const h = state.history;
  byId("charts-unavailable").hidden = h !== "unavailable";
  const points = h && h !== "unavailable" ? h.points : [];
  tokenChart.update(points.map((p) => ({ t: p.t, v: { total: p.tokens, input: p.input, output: p.output } })));
  requestChart.update(points.map((p) => ({ t: p.t, v: { requests: p.requests, errors: p.errors } })));
}

// -- data -----------------------------------------------------------------------------------

async function guarded(fn) {
  try {
    await fn();
  } catch (err) {
    if (err instanceof api.AuthError) {
      signOut(err.message);
      return;
    }
    throw err;
  }
}

async function pollMetrics() {
  try {
    state.metrics = await api.fetchMetrics();
    state.metricsError = "";
  } catch (err) {
    if (err instanceof api.AuthError) throw err;
    if (err instanceof api.Unreachable) state.metricsError = "proxy unreachable · retrying";
    else if (err instanceof api.Unavailable) state.metricsError = "metrics unavailable";
    else state.metricsError = `metrics: ${err.message}`;
  }
  scheduleRender();
}

async function pollProcesses() {
  try {
    state.processes = await api.fetchProcesses();
  } catch (err) {
    if (err instanceof api.AuthError) throw err;
    state.processes = null;
  }
  scheduleRender();
}

async function pollEvents(initial) {
  if (!initial && state.streamState === "live") return;
  try {
    const { events } = await api.fetchEvents(live.lastLogId, initial ? 200 : 1000);
    for (const e of events) live.push(e, true);
  } catch (err) {
    if (err instanceof api.AuthError) throw err;
  }
}

async function pollKeys() {
  try {
    state.keys = await api.fetchKeys();
  } catch (err) {
    if (err instanceof api.AuthError) throw err;
    state.keys = null;
  }
  scheduleRender();
}

async function pollHistory() {
  state.historyAt = Date.now();
  try {
    state.history = await api.fetchHistory(state.window);
  } catch (err) {
    if (err instanceof api.AuthError) throw err;
    state.history = "unavailable";
  }
  renderCharts();
}

async function pollHealth() {
  try {
    state.health = await api.fetchHealth();
  } catch {
    state.health = null;
  }
  scheduleRender();
}

function every(ms, fn) {
  const run = () => guarded(fn).catch((err) => console.warn(err));
  state.timers.push(setInterval(run, ms));
}

const REFRESH_ON = new Set(["complete", "error", "started", "cooldown_start", "cooldown_end", "worker_drain", "worker_resume", "worker_state", "kill", "warm_fallback"]);
let refreshTimer = 0;
let historyTimer = 0;

/** A lifecycle event changes the figures: fetch /metrics soon (at most once a second) and the
 * history at most every 5 s, instead of waiting for the next regular poll. */
function refreshSoon() {
  if (refreshTimer || !state.running) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    if (!state.running) return;
    guarded(pollMetrics).catch((err) => console.warn(err));
    if (!historyTimer) {
      const wait = Math.max(0, state.historyAt + 5000 - Date.now());
      historyTimer = setTimeout(() => {
        historyTimer = 0;
        if (state.running) guarded(pollHistory).catch((err) => console.warn(err));
      }, wait);
    }
  }, 1000);
}

function startFeed() {
  state.stopStream = api.openStream({
    sinceId: () => live.lastLogId,
    onEvent: (event) => {
      live.push(event);
      if (REFRESH_ON.has(event.type)) refreshSoon();
    },
    onState: (s) => {
      state.streamState = s;
      scheduleRender();
    },
    onAuthError: (message) => signOut(message),
  });
}

async function start() {
  if (state.running) return;
  state.running = true;
  hideLogin();
  await guarded(async () => {
    await Promise.all([pollMetrics(), pollProcesses(), pollHealth(), pollHistory(), pollKeys()]);
    await pollEvents(true);
  });
  if (!state.running) return;
  startFeed();
  every(POLL_MS, async () => {
    await Promise.all([pollMetrics(), pollProcesses(), pollEvents(false)]);
  });
  every(HISTORY_MS, pollHistory);
  every(HEALTH_MS, pollHealth);
  every(KEYS_MS, pollKeys);
  state.timers.push(
    setInterval(() => {
      renderUptime();
      workers.tick();
      live.tick();
    }, 1000),
  );
}

function stop() {
  state.running = false;
  for (const t of state.timers) clearInterval(t);
  state.timers = [];
  if (state.stopStream) state.stopStream();
  state.stopStream = null;
  state.streamState = "down";
}

// -- actions --------------------------------------------------------------------------------

function confirmAction(text, okLabel) {
  const dialog = byId("confirm");
  setText(byId("confirm-text"), text);
  setText(byId("confirm-ok"), okLabel);
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.removeEventListener("close", onClose);
      resolve(answer);
    };
    const onClose = () => done(dialog.returnValue === "ok");
    dialog.addEventListener("close", onClose);
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function runAction(button, label, fn) {
  button.dataset.pending = "1";
  button.disabled = true;
  setText(button, label);
  try {
    await guarded(fn);
  } catch (err) {
    if (err instanceof api.Unavailable && button.dataset.worker) workers.actionsUnavailable();
    button.title = err instanceof api.Unavailable ? "not supported by this server" : err.message;
    setText(button, "failed");
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    button.dataset.pending = "";
    button.disabled = false;
  }
  await guarded(pollMetrics);
}

function onDrain(name, button) {
  runAction(button, "draining…", () => api.drainWorker(name));
}

function onResume(name, button) {
  runAction(button, "resuming…", () => api.resumeWorker(name));
}

async function onKill(pid, button) {
  const ok = await confirmAction(`Kill CLI process ${pid}? Its request fails with an error.`, `Kill ${pid}`);
  if (!ok) return;
  await runAction(button, "killing…", () => api.killProcess(pid));
  await guarded(pollProcesses);
}

async function onCreateKey(body) {
  const made = await api.createKey(body);
  await guarded(pollKeys);
  return made;
}

async function onRevokeKey(key, button) {
  if (!key) return;
  const ok = await confirmAction(`Revoke key “${key.name}”? Requests with it are refused from the next one.`, "Revoke");
  if (!ok) return;
  button.disabled = true;
  setText(button, "revoking…");
  try {
    await guarded(() => api.revokeKey(key.id));
  } catch (err) {
    button.title = err.message;
    setText(button, "failed");
    await new Promise((r) => setTimeout(r, 1500));
  } finally {
    button.disabled = false;
    setText(button, "Revoke");
  }
  await guarded(pollKeys);
}

// -- token / login --------------------------------------------------------------------------

function showLogin(message) {
  byId("login").hidden = false;
  byId("dashboard").hidden = true;
  const error = byId("login-error");
  error.hidden = !message;
  setText(error, message || "");
  byId("login-token").focus();
}

function hideLogin() {
  byId("login").hidden = true;
  byId("dashboard").hidden = false;
}

function signOut(message) {
  stop();
  api.clearToken();
  showLogin(message);
}

async function onLogin(event) {
  event.preventDefault();
  const input = byId("login-token");
  const token = input.value.trim();
  if (!token) return;
  let refusal = "";
  try {
    refusal = await api.checkToken(token);
  } catch {
    showLogin("The proxy did not answer.");
    return;
  }
  if (refusal) {
    showLogin(refusal);
    return;
  }
  input.value = "";
  api.setToken(token);
  start();
}

function initTabs() {
  const tabs = byId("chart-tabs");
  tabs.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-window]");
    if (!button) return;
    for (const b of tabs.querySelectorAll("button")) b.setAttribute("aria-selected", String(b === button));
    state.window = button.dataset.window;
    guarded(pollHistory);
  });
}

function init() {
  live = new LiveFeed();
  workers = new WorkersPanel({ onDrain, onResume });
  processes = new ProcessesPanel({ onKill, lookup: (id) => live.requests.get(id) });
  keysPanel = new KeysPanel({ onCreate: onCreateKey, onRevoke: onRevokeKey });
  tokenChart = new TimeChart(byId("chart-tokens"), [
    { key: "total", label: "total" },
    { key: "input", label: "input" },
    { key: "output", label: "output" },
  ]);
  requestChart = new TimeChart(byId("chart-requests"), [
    { key: "requests", label: "finished" },
    { key: "errors", label: "errors" },
  ]);
  initTabs();
  byId("login-form").addEventListener("submit", onLogin);
  byId("btn-signout").addEventListener("click", () => signOut(""));
  byId("confirm").addEventListener("click", (event) => {
    const button = event.target.closest("button[value]");
    if (button) byId("confirm").close(button.value);
  });
  api.adoptFragmentToken();
  window.addEventListener("hashchange", () => {
    api.adoptFragmentToken();
    if (api.getToken() && !state.running) start();
  });
  if (api.getToken()) start();
  else showLogin("");
}

init();
