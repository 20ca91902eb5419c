// The panels fed by polling: token strip, workers, queue, rate limits, errors, configuration
// and processes. Each render function takes normalised data (api.js) and updates its panel in
// place; strings from clients only ever reach the page as text.

import {
  byId,
  el,
  fill,
  fmtAgo,
  fmtBytes,
  fmtClock,
  fmtCompact,
  fmtDuration,
  fmtInt,
  fmtMs,
  KeyedList,
  levelClass,
  ratio,
  setText,
  truncate,
} from "./dom.js";
import { FAMILIES, familyOf, workerLabel } from "./names.js";

function unavailable(node, what) {
  fill(node, el("p", { class: "unavailable", text: `${what} unavailable` }));
}

// -- token strip ----------------------------------------------------------------------------

function tokenCell(title, counts, live, extra) {
  const total = counts.total + (live ? live.total : 0);
  const empty = !counts.requests && !counts.total && !(live && live.total);
  return el(
    "div",
    { class: `tok-cell${empty ? " is-empty" : ""}` },
    el("div", { class: "tok-title" }, title, live && live.total ? el("span", { class: "live-tag", text: `+${fmtCompact(live.total)} live` }) : null),
    el("div", { class: "tok-big", text: empty ? "–" : fmtCompact(total), title: fmtInt(total) + " tokens" }),
    el(
      "div",
      { class: "tok-sub" },
      empty ? "no requests yet" : `in ${fmtCompact(counts.input)} → out ${fmtCompact(counts.output)} · ${fmtInt(counts.requests)} req`,
    ),
    extra,
  );
}

function windowsRow(windows) {
  const labels = { "1h": "1h", "4h": "4h", "8h": "8h", week: "week" };
  return el(
    "div",
    { class: "tok-windows" },
    Object.entries(labels).map(([key, label]) =>
      el(
        "div",
        { class: "tok-win", title: `${fmtInt(windows[key].input)} in · ${fmtInt(windows[key].output)} out · ${fmtInt(windows[key].requests)} requests` },
        el("span", { class: "win-label", text: label }),
        el("span", { class: "win-val", text: fmtCompact(windows[key].total) }),
        el("span", { class: "win-req", text: `${fmtInt(windows[key].requests)} req` }),
      ),
    ),
  );
}

/** tokens: normalised tokens; clientLive: {family: {input, output, total}} estimated from the feed. */
export function renderTokens(tokens, clientLive) {
  const node = byId("token-strip");
  if (!tokens) return unavailable(node, "token figures");
  const families = {};
  const add = (bucket, fam, c) => {
    const slot = (bucket[fam] ||= { input: 0, output: 0, total: 0, requests: 0, models: [] });
    slot.input += c.input;
    slot.output += c.output;
    slot.total += c.total;
    slot.requests += c.requests || 0;
    return slot;
  };
  for (const [model, c] of Object.entries(tokens.byModel)) add(families, familyOf(model), c).models.push(model);
  let live = {};
  if (Object.keys(tokens.liveByModel).length) {
    for (const [model, c] of Object.entries(tokens.liveByModel)) add(live, familyOf(model), c);
  } else {
    live = clientLive || {};
  }
  const liveTotal = tokens.live || Object.values(live).reduce(
    (a, c) => ({ input: a.input + c.input, output: a.output + c.output, total: a.total + c.total }),
    { input: 0, output: 0, total: 0 },
  );
  const names = [...FAMILIES, ...Object.keys(families).filter((f) => !FAMILIES.includes(f)).sort()];
  const zero = { input: 0, output: 0, total: 0, requests: 0, models: [] };
  fill(
    node,
    tokenCell("Total", tokens.totals, liveTotal, windowsRow(tokens.windows)),
    names.map((f) => {
      const c = families[f] || zero;
      const cell = tokenCell(f, c, live[f]);
      if (c.models.length) cell.title = c.models.join(", ");
      return cell;
    }),
  );
}

export function renderLiveBar(inFlight, queued, liveTokens, processes) {
  const bar = byId("livebar");
  bar.hidden = !(inFlight || queued);
  if (bar.hidden) return;
  fill(
    bar,
    el("i", { class: "pulse" }),
    el("strong", { text: `${inFlight} running` }),
    queued ? el("span", { text: `${queued} queued` }) : null,
    liveTokens && liveTokens.total
      ? el("span", { text: `${fmtInt(liveTokens.total)} live tokens (in ${fmtInt(liveTokens.input)} → out ${fmtInt(liveTokens.output)})` })
      : el("span", { class: "muted", text: "waiting for output" }),
    processes !== null && processes !== undefined ? el("span", { class: "muted", text: `${processes} CLI processes` }) : null,
  );
}

// -- workers --------------------------------------------------------------------------------

function workerState(w, now) {
  if (w.coolingUntil && w.coolingUntil > now) return { cls: "st-cooling", text: `cooling ${fmtDuration((w.coolingUntil - now) / 1000)}` };
  if (w.draining || w.state === "draining") return { cls: "st-draining", text: "draining" };
  if (w.state === "up") return { cls: "st-up", text: "up" };
  if (w.state === "cooling") return { cls: "st-cooling", text: "cooling" };
  if (w.state === "starting") return { cls: "st-draining", text: "starting" };
  return { cls: "st-down", text: w.state || "unknown" };
}

const WINDOW_LABELS = { five_hour: "5h", seven_day: "7d", seven_day_opus: "7d opus", seven_day_sonnet: "7d sonnet", overage: "overage" };

/** When a cooling worker comes back: the exact time, how long until then, and whether the
 * upstream reported it or the proxy estimated it. */
function backText(w, now) {
  if (!(w.coolingUntil > now)) return "";
  const at = new Date(w.coolingUntil);
  const sameDay = at.toDateString() === new Date(now).toDateString();
  const when = sameDay ? at.toLocaleTimeString() : at.toLocaleString();
  const basis = w.coolingBasis === "reset" ? "reported reset" : w.coolingBasis === "retry_after" ? "retry-after" : "estimate";
  return `back at ${when} (in ${fmtDuration((w.coolingUntil - now) / 1000)}, ${basis})`;
}

/** One bar per window: its utilisation (or "below warning" without a figure) and reset countdown. */
function updateQuotaBars(r, w, now) {
  const windows = w.quota || [];
  r.quotaBars.hidden = !windows.length;
  const rows = windows.map((q) => {
    const label = WINDOW_LABELS[q.window] || q.window;
    const pct = q.utilization === null ? null : Math.round(q.utilization * 100);
    const cls = q.status === "rejected" || (pct !== null && pct >= 95) ? "qb-bad" : q.status === "allowed_warning" || (pct !== null && pct >= 75) ? "qb-warn" : "qb-ok";
    const fill = el("div", { class: `qb-fill ${cls}` });
    fill.style.width = `${pct === null ? 0 : Math.min(100, pct)}%`;
    const figure = pct === null ? "below warning" : `${pct}%`;
    const resets = q.resetsAt && q.resetsAt > now ? `resets in ${fmtDuration((q.resetsAt - now) / 1000)}` : "";
    const row = el(
      "div",
      { class: "qb-row", "data-window": q.window },
      el("span", { class: "qb-label", text: label }),
      el("div", { class: "qb-track" }, fill),
      el("span", { class: "qb-figure", text: figure }),
      el("span", { class: "qb-reset muted", text: resets }),
    );
    row.title = `${q.window}: ${q.status || "no status"}${q.resetsAt ? `, resets ${new Date(q.resetsAt).toLocaleString()}` : ""}`;
    return row;
  });
  r.quotaBars.replaceChildren(...rows);
}

function quotaText(w, now) {
  if (!w.quotaStatus) return { cls: "q-unknown", text: "quota: no report yet" };
  const resets = w.quotaResetsAt && w.quotaResetsAt > now ? ` · resets in ${fmtDuration((w.quotaResetsAt - now) / 1000)}` : "";
  const cls = w.quotaStatus === "rejected" ? "q-bad" : w.quotaStatus === "allowed_warning" ? "q-warn" : "q-ok";
  return { cls, text: `quota: ${w.quotaStatus.replace("_", " ")}${resets}` };
}

export class WorkersPanel {
  constructor({ onDrain, onResume }) {
    this.body = byId("workers-body");
    this.rows = el("div", { class: "worker-list" });
    this.message = el("p", { class: "unavailable", hidden: true });
    this.body.replaceChildren(this.rows, this.message);
    this.list = new KeyedList(this.rows, (w) => w.name, (w) => this.make(w));
    this.onDrain = onDrain;
    this.onResume = onResume;
    this.workers = [];
    this.actionsOk = true;
  }

  /** The server has no drain/resume endpoints: the buttons say so instead of failing again. */
  actionsUnavailable() {
    this.actionsOk = false;
    for (const w of this.workers) this.list.items.get(w.name)?.update(w);
  }

  make(w) {
    const r = {
      dot: el("i", { class: "dot" }),
      name: el("span", { class: "w-name" }),
      mode: el("span", { class: "badge" }),
      version: el("span", { class: "badge badge-cli" }),
      host: el("span", { class: "badge badge-host" }),
      state: el("span", { class: "state" }),
      active: el("span", { class: "w-active" }),
      shareFill: el("div", { class: "share-fill" }),
      shareText: el("span", { class: "w-share" }),
      requests: el("span"),
      errors: el("span"),
      last: el("span", { class: "muted" }),
      quota: el("span", { class: "quota" }),
      quotaBars: el("div", { class: "quota-bars" }),
      back: el("div", { class: "w-back" }),
      lastError: el("div", { class: "w-error" }),
      button: el("button", { type: "button", class: "btn btn-small" }),
      cli: el("div", { class: "w-cli" }),
      idle: el("span", { class: "w-procs" }),
      running: el("span", { class: "w-procs" }),
      turns: el("span", { class: "w-turns" }),
      rebuilds: el("span", { class: "w-rebuilds" }),
      fallbacks: el("span", { class: "w-fallbacks" }),
      pool: el("span", { class: "w-pool" }),
    };
    r.cli.append(r.idle, r.running, r.pool, r.turns, r.rebuilds, r.fallbacks);
    r.button.addEventListener("click", () => {
      const worker = this.workers.find((x) => x.name === r.button.dataset.worker);
      if (!worker) return;
      (worker.draining ? this.onResume : this.onDrain)(worker.name, r.button);
    });
    const node = el(
      "div",
      { class: "worker" },
      el("div", { class: "w-head" }, r.dot, r.name, r.mode, r.version, r.host, r.state, el("span", { class: "spacer" }), r.active, r.button),
      el("div", { class: "share" }, r.shareFill),
      el("div", { class: "w-stats" }, r.shareText, r.requests, r.errors, r.last, r.quota),
      r.quotaBars,
      r.back,
      r.cli,
      r.lastError,
    );
    return { node, update: (item) => this.update(r, item) };
  }

  update(r, w) {
    const now = Date.now();
    const st = workerState(w, now);
    r.dot.className = `dot ${st.cls}`;
    setText(r.name, workerLabel(w.name));
    setText(r.mode, w.mode || "–");
    r.mode.hidden = !w.mode;
    setText(r.version, w.cliVersion ? `CLI ${w.cliVersion}` : "");
    r.version.hidden = !w.cliVersion;
    r.version.title = w.cliVersion ? `this worker runs Claude Code ${w.cliVersion}` : "";
    setText(r.host, w.address ? `at ${w.address}` : "");
    r.host.hidden = !w.address;
    r.host.title = w.address ? "a workerd on another host, reached with mutual TLS" : "";
    updateCli(r, w);
    r.state.className = `state ${st.cls}`;
    setText(r.state, st.text);
    setText(r.active, `● ${w.inFlight}${w.maxConcurrent ? `/${w.maxConcurrent}` : ""} active`);
    r.shareFill.style.width = `${Math.round((w.share || 0) * 100)}%`;
    setText(r.shareText, `${Math.round((w.share || 0) * 100)}% of traffic`);
    setText(r.requests, `${fmtInt(w.requests)} req`);
    setText(r.errors, `${fmtInt(w.errors)} err`);
    r.errors.className = w.errors ? "has-errors" : "";
    const cats = Object.entries(w.errorsByCategory || {}).filter(([, n]) => n);
    r.errors.title = cats.length ? cats.map(([k, n]) => `${k}: ${n}`).join("\n") : "no errors";
    setText(r.last, w.lastUsed ? `last ${fmtAgo(w.lastUsed)}` : "");
    const q = quotaText(w, now);
    r.quota.className = `quota ${q.cls}`;
    setText(r.quota, q.text);
    r.quota.title = w.credential === "api_key" ? "API key: the upstream's own limits apply" : "subscription account";
    updateQuotaBars(r, w, now);
    const back = backText(w, now);
    setText(r.back, back);
    r.back.hidden = !back;
    const err = w.lastError || (w.coolingReason && w.coolingUntil > now ? `cooling: ${w.coolingReason}` : "");
    setText(r.lastError, truncate(err, 160));
    r.lastError.title = err;
    r.lastError.hidden = !err;
    r.button.dataset.worker = w.name;
    if (r.button.dataset.pending !== "1") {
      setText(r.button, w.draining ? "Resume" : "Drain");
      r.button.className = `btn btn-small ${w.draining ? "btn-primary" : "btn-ghost"}`;
      r.button.disabled = !this.actionsOk;
      r.button.title = !this.actionsOk
        ? "drain/resume is not available on this server"
        : w.draining
          ? `Let ${workerLabel(w.name)} take new requests again`
          : `Stop sending new requests to ${workerLabel(w.name)}`;
    }
  }

  render(workers, affinity, sessions) {
    this.workers = workers || [];
    this.list.sync(this.workers);
    this.message.hidden = Boolean(workers && workers.length);
    setText(this.message, workers ? "no worker configured" : "workers unavailable");
    const list = this.workers;
    const up = list.filter((w) => w.state === "up" && !w.draining).length;
    setText(byId("workers-summary"), workers ? `${up}/${list.length} taking requests` : "");
    renderAffinity(affinity, sessions);
  }

  /** Countdown refresh every second without new data. */
  tick() {
    for (const w of this.workers) {
      const entry = this.list.items.get(w.name);
      if (entry && (w.coolingUntil || w.quotaResetsAt || w.lastUsed || (w.quota || []).length)) entry.update(w);
    }
  }
}

/** A CLI worker's warm, parked and running processes with their memory, and how it served turns. */
function updateCli(r, w) {
  const c = w.cli;
  r.cli.hidden = !c || (w.mode === "api" && !c.turns && !c.running);
  if (r.cli.hidden) return;
  const idleRss = c.idleRss ? ` · ${fmtBytes(c.idleRss)}` : "";
  setText(r.idle, `${fmtInt(c.warm)} warm · ${fmtInt(c.parked)} parked${idleRss}`);
  r.idle.title = "processes waiting for a request (warm) or holding a conversation between turns (parked), and their memory";
  setText(r.running, `${fmtInt(c.running)} running${c.runningRss ? ` · ${fmtBytes(c.runningRss)}` : ""}`);
  const s = c.served;
  setText(r.turns, c.turns ? `turns: ${fmtInt(s.live)} live · ${fmtInt(s.warm)} warm · ${fmtInt(s.cold)} cold` : "no CLI turn yet");
  r.turns.title = "live: the conversation's held process went on · warm: a process started ahead · cold: spawned for the request";
  const rebuilds = Object.entries(c.rebuilds).sort((a, b) => b[1] - a[1]);
  setText(r.rebuilds, rebuilds.length ? `rebuilt: ${rebuilds.map(([k, n]) => `${k} ${fmtInt(n)}`).join(", ")}` : "");
  r.rebuilds.hidden = !rebuilds.length;
  setText(r.fallbacks, c.fallbacks.length ? `cold only: ${c.fallbacks.length} signature${c.fallbacks.length > 1 ? "s" : ""}` : "");
  r.fallbacks.title = c.fallbacks.length ? `warm processes failed for: ${c.fallbacks.join(", ")}` : "";
  r.fallbacks.hidden = !c.fallbacks.length;
  updatePool(r.pool, c.pool);
}

/** The pool's sizing: what is ready against what it aims for, what is starting, its memory. */
function updatePool(node, p) {
  node.hidden = !p;
  if (!p) return;
  const budget = p.budget ? ` of budget ${fmtBytes(p.budget)}` : "";
  setText(node, `pool: ready ${fmtInt(p.ready)} / target ${fmtInt(p.target)} (starting ${fmtInt(p.starting)}) · memory ${fmtBytes(p.memory)}${budget}`);
  node.className = `w-pool${p.budget && p.memory > p.budget ? " over" : ""}`;
  node.title =
    `ready processes it aims to keep now: ${fmtInt(p.target)} (floor ${fmtInt(p.floor)}, ceiling ${fmtInt(p.ceiling)} by memory)\n` +
    `memory: all its CLI processes (PSS where readable) · requests served by a process still starting: ${fmtInt(p.claimedStarting)}`;
}

function renderAffinity(affinity, sessions) {
  const node = byId("affinity");
  if (!affinity) return fill(node);
  const pairs = [
    ["affinity hit rate", affinity.lookups ? `${Math.round(affinity.hitRate * 100)}%` : "–"],
    ["hits", fmtInt(affinity.hits)],
    ["misses", fmtInt(affinity.misses)],
    ["moved", fmtInt(affinity.moves)],
    ["conversations", fmtInt(affinity.active)],
  ];
  if (sessions && sessions.turns) {
    pairs.push(["turns live", `${Math.round((sessions.served.live / sessions.turns) * 100)}%`]);
  }
  fill(node, pairs.map(([k, v]) => el("span", { class: "kv" }, el("span", { class: "k", text: k }), el("span", { class: "v", text: v }))));
}

// -- queue ----------------------------------------------------------------------------------

function tile(label, value, cls) {
  return el("div", { class: `tile ${cls || ""}` }, el("div", { class: "tile-v", text: value }), el("div", { class: "tile-k", text: label }));
}

export function renderQueue(queue, latency) {
  const node = byId("queue-body");
  if (!queue) return unavailable(node, "queue");
  setText(byId("queue-summary"), queue.queued ? `${queue.queued} waiting` : "nothing waiting");
  const w = queue.waits;
  const tiles = el(
    "div",
    { class: "tiles" },
    tile("running", `${queue.active}${queue.max ? ` / ${queue.max}` : ""}`),
    tile("queued", `${queue.queued}${queue.maxQueued ? ` / ${queue.maxQueued}` : ""}`, queue.queued ? "warn" : ""),
    tile("served", fmtInt(queue.served)),
    tile("timed out", fmtInt(queue.timedOut), queue.timedOut ? "bad" : ""),
    tile("rejected (full)", fmtInt(queue.rejected), queue.rejected ? "bad" : ""),
    tile("rate limited", fmtInt(queue.rateLimited), queue.rateLimited ? "warn" : ""),
  );
  const waits = el(
    "div",
    { class: "tiles tiles-4" },
    tile("wait p50", w ? fmtMs(w.p50) : "–"),
    tile("wait p95", w ? fmtMs(w.p95) : "–"),
    tile("wait max", w ? fmtMs(w.max) : "–"),
    tile("avg first token", latency && latency.ttftAvgMs !== null ? fmtMs(latency.ttftAvgMs) : "–"),
  );
  const sources = queue.sources.slice().sort((a, b) => b.depth - a.depth || b.rejected - a.rejected).slice(0, 12);
  const limit = queue.maxPerSource;
  const table = sources.length
    ? el(
        "table",
        { class: "tbl" },
        el("thead", {}, el("tr", {}, ["source", "waiting", "rejected"].map((h, i) => el("th", { class: i ? "num" : "", text: h })))),
        el(
          "tbody",
          {},
          sources.map((s) =>
            el(
              "tr",
              {},
              el("td", { class: "mono clip", text: truncate(s.source, 36), title: s.source }),
              el("td", { class: s.depth ? "num warn" : "num", text: limit ? `${fmtInt(s.depth)} / ${limit}` : fmtInt(s.depth) }),
              el("td", { class: s.rejected ? "num bad" : "num", text: fmtInt(s.rejected) }),
            ),
          ),
        ),
      )
    : el("p", { class: "muted small", text: "no source is waiting or has been refused" });
  fill(node, tiles, waits, el("h3", { text: "per source" }), el("div", { class: "table-wrap" }, table));
}

// -- rate limits ----------------------------------------------------------------------------

function limitBar(label, pair) {
  if (!pair || !pair.limit) return el("div", { class: "lbar is-empty" }, el("span", { class: "lbar-k", text: label }), el("span", { class: "muted", text: "no limit" }));
  const f = ratio(pair.used, pair.limit);
  const fillNode = el("div", { class: `lbar-fill ${levelClass(f)}` });
  fillNode.style.width = `${Math.min(100, Math.round(f * 100))}%`;
  return el(
    "div",
    { class: "lbar" },
    el("span", { class: "lbar-k", text: label }),
    el("div", { class: "lbar-track" }, fillNode),
    el("span", { class: "lbar-v", text: `${fmtCompact(pair.used)}/${fmtCompact(pair.limit)}`, title: `${fmtInt(pair.used)} of ${fmtInt(pair.limit)} (${Math.round(f * 100)}%)` }),
  );
}

const familyRank = (family) => (FAMILIES.includes(family) ? FAMILIES.indexOf(family) : FAMILIES.length);

export function renderLimits(limits) {
  const node = byId("limits-body");
  if (!limits) return unavailable(node, "rate limits");
  if (!limits.length) return fill(node, el("p", { class: "muted small", text: "no rate-limit window has been used yet" }));
  const rows = limits
    .slice()
    .sort((a, b) => a.worker.localeCompare(b.worker) || familyRank(a.family) - familyRank(b.family) || a.family.localeCompare(b.family));
  fill(
    node,
    el(
      "div",
      { class: "limits" },
      rows.map((r) =>
        el(
          "div",
          { class: `limit-row${r.rpm.used || r.tpm.used ? "" : " is-idle"}` },
          el("div", { class: "limit-name" }, r.worker ? el("span", { class: "w-name", text: workerLabel(r.worker) }) : null, el("span", { text: r.family })),
          limitBar("req/min", r.rpm),
          limitBar("tok/min", r.tpm),
        ),
      ),
    ),
  );
}

// -- errors ---------------------------------------------------------------------------------

export function renderErrors(errors) {
  const chips = byId("errors-categories");
  const recent = byId("errors-recent");
  if (!errors) {
    fill(chips);
    return unavailable(recent, "errors");
  }
  setText(byId("errors-total"), `${fmtInt(errors.total)} total`);
  const cats = Object.entries(errors.counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  fill(
    chips,
    cats.length
      ? cats.map(([k, v]) => el("span", { class: `chip${v ? " chip-bad" : ""}` }, el("span", { text: k.replaceAll("_", " ") }), el("b", { text: fmtInt(v) })))
      : el("span", { class: "muted small", text: "no errors" }),
  );
  const rows = errors.recent.slice(-20).reverse();
  fill(
    recent,
    rows.length
      ? el(
          "table",
          { class: "tbl" },
          el("thead", {}, el("tr", {}, ["time", "worker", "category", "detail"].map((h) => el("th", { text: h })))),
          el(
            "tbody",
            {},
            rows.map((e) =>
              el(
                "tr",
                {},
                el("td", { class: "mono", text: e.ts ? fmtClock(e.ts) : "–" }),
                el("td", { text: e.worker ? workerLabel(e.worker) : "–" }),
                el("td", {}, el("span", { class: "tag tag-error", text: e.category || "error" })),
                el("td", { class: "clip", text: truncate(e.detail, 140), title: e.detail }),
              ),
            ),
          ),
        )
      : el("p", { class: "muted small", text: "no recent errors" }),
  );
}

// -- configuration --------------------------------------------------------------------------

function configValue(value, kind) {
  if (kind === "ms" && typeof value === "number") return fmtDuration(value / 1000);
  if (typeof value === "boolean") return value ? "yes" : "no";
  return String(value ?? "–");
}

export function renderConfig(groups) {
  const node = byId("config-body");
  if (!groups) return unavailable(node, "configuration");
  fill(
    node,
    groups.map((g) =>
      el(
        "div",
        { class: "cfg-group" },
        el("h3", { text: g.title }),
        el(
          "dl",
          { class: "kvlist" },
          g.items.map(([label, value, kind]) => {
            const text = configValue(value, kind);
            return [el("dt", { text: label }), el("dd", { class: "mono", text, title: text })];
          }),
        ),
      ),
    ),
  );
}

// -- processes ------------------------------------------------------------------------------

// A process's state as the table shows it: `ready` is a warm process waiting for a request,
// `awaiting` one whose client tool calls are out (busy until the results come).
const PROCESS_STATES = {
  running: { label: "running", cls: "ps-running", rank: 0, hint: "running a turn" },
  awaiting: { label: "awaiting tools", cls: "ps-running", rank: 0, hint: "its tool calls are out: waiting for the client's results" },
  starting: { label: "starting", cls: "ps-starting", rank: 1, hint: "starting up" },
  parked: { label: "parked", cls: "ps-parked", rank: 2, hint: "holding its conversation between turns" },
  ready: { label: "warm", cls: "ps-ready", rank: 3, hint: "started ahead, waiting for a request" },
  stopping: { label: "stopping", cls: "ps-stopping", rank: 4, hint: "being stopped" },
};
const processState = (state) => PROCESS_STATES[state] || { label: state || "–", cls: "", rank: 5, hint: "" };

export class ProcessesPanel {
  /** lookup(requestId) -> {source, model, chars} from the live feed, or undefined. */
  constructor({ onKill, lookup }) {
    this.onKill = onKill;
    this.lookup = lookup;
    this.body = byId("proc-body");
    this.tbody = el("tbody");
    this.empty = el("p", { class: "muted small", text: "no CLI process" });
    const heads = ["pid", "worker", "state", "model", "source", "live output", "rss", "age", "idle", "conversation · request", ""];
    this.table = el(
      "table",
      { class: "tbl procs" },
      el("thead", {}, el("tr", {}, heads.map((h, i) => el("th", { class: i >= 5 && i <= 8 ? "num" : "", text: h })))),
      this.tbody,
    );
    this.list = new KeyedList(this.tbody, (p) => p.pid, (p) => this.make(p));
  }

  make() {
    const cells = Array.from({ length: 10 }, () => el("td"));
    const kill = el("button", { type: "button", class: "btn btn-small btn-danger", text: "Kill" });
    kill.addEventListener("click", () => this.onKill(Number(kill.dataset.pid), kill));
    const node = el("tr", {}, cells, el("td", { class: "num" }, kill));
    return { node, update: (p) => this.update(node, cells, kill, p) };
  }

  update(node, cells, kill, p) {
    const seen = (this.lookup && this.lookup(p.requestId)) || {};
    const source = seen.source || ""; // /zombies has no source: the live feed knows it
    const state = processState(p.state);
    node.className = p.stale ? "stale" : "";
    node.dataset.state = p.state;
    kill.dataset.pid = String(p.pid);
    const reason = p.staleReason ? `stale: ${p.staleReason}` : "stale";
    fill(cells[0], String(p.pid), p.stale ? el("span", { class: "tag tag-stale", text: reason }) : null);
    cells[0].className = "mono";
    setText(cells[1], p.worker ? workerLabel(p.worker) : "–");
    fill(cells[2], el("span", { class: `tag ${state.cls}`, text: state.label, title: state.hint }));
    setText(cells[3], p.model || seen.model || "–");
    setText(cells[4], source ? truncate(source, 28) : "–");
    cells[4].title = source;
    cells[4].className = "mono clip";
    setText(cells[5], seen.chars ? `~${fmtInt(Math.ceil(seen.chars / 4))} tok` : "–");
    setText(cells[6], p.rssBytes ? fmtBytes(p.rssBytes) : "–");
    cells[6].title = p.rssBytes ? `${fmtInt(p.rssBytes)} bytes resident` : "";
    setText(cells[7], p.ageS === null ? "–" : fmtDuration(p.ageS));
    setText(cells[8], p.idleS === null ? "–" : fmtDuration(p.idleS));
    cells[5].className = cells[6].className = cells[7].className = cells[8].className = "num";
    cells[7].classList.toggle("bad", p.staleReason === "age");
    cells[8].classList.toggle("bad", p.staleReason === "idle");
    fill(
      cells[9],
      p.conversation ? el("span", { class: "conv", text: truncate(p.conversation, 16), title: `conversation ${p.conversation}` }) : null,
      truncate(p.requestId, 20),
    );
    cells[9].title = p.requestId;
    cells[9].className = "mono clip muted";
  }

  render(data) {
    if (!data) {
      this.list.sync([]);
      setText(byId("proc-summary"), "");
      return unavailable(this.body, "process list");
    }
    const procs = data.processes
      .slice()
      .sort((a, b) => Number(b.stale) - Number(a.stale) || processState(a.state).rank - processState(b.state).rank || (b.ageS || 0) - (a.ageS || 0));
    this.list.sync(procs);
    const want = procs.length ? this.table : this.empty;
    if (this.body.firstChild !== want || this.body.childNodes.length !== 1) this.body.replaceChildren(want);
    const stale = procs.filter((p) => p.stale).length;
    const count = (state) => procs.filter((p) => p.state === state).length;
    const states = ["running", "ready", "parked"].map((st) => `${count(st)} ${processState(st).label}`).join(" · ");
    const rss = procs.reduce((a, p) => a + p.rssBytes, 0);
    const limits = data.maxAgeMs ? ` · stale after ${fmtDuration(data.maxAgeMs / 1000)}, or ${fmtDuration(data.maxIdleMs / 1000)} silent while running` : "";
    const unreachable = data.unreachable.length ? ` · unreachable: ${data.unreachable.map(workerLabel).join(", ")}` : "";
    setText(
      byId("proc-summary"),
      `${procs.length} processes: ${states}${rss ? ` · ${fmtBytes(rss)}` : ""}${stale ? ` · ${stale} stale` : ""}${limits}${unreachable}`,
    );
  }
}
