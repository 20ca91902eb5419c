// The live panels: request cards fed by the event stream, and the event log. Events update
// plain JS state at once (cheap); the DOM is written at most once per animation frame, and
// every list is capped, so hundreds of events per second stay smooth.

import { byId, el, fmtClock, fmtCompact, fmtDuration, fmtInt, fmtMs, setText, truncate } from "./dom.js";
import { familyOf, workerLabel } from "./names.js";

const MAX_CARDS = 8;
const MAX_CARD_TEXT = 600;
const CARD_LINGER_MS = 30000;
const MAX_LOG_ROWS = 200;
const MAX_TRACKED = 500;
const LOG_INTERVAL_MS = 250;

const LOG_SKIP = new Set(["chunk"]);
const TYPE_CLASS = {
  request: "t-request",
  queued: "t-queued",
  started: "t-started",
  complete: "t-complete",
  error: "t-error",
  retry: "t-retry",
  moved: "t-moved",
  cooldown_start: "t-warn",
  cooldown_end: "t-ok",
  reap: "t-error",
  kill: "t-error",
  worker_drain: "t-warn",
  worker_resume: "t-ok",
  worker_state: "t-moved",
  startup: "t-request",
  session: "t-session",
  warm_fallback: "t-warn",
};
const HIDDEN_KEYS = new Set(["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]);

const rid = (d) => String(d.request_id ?? "");

const chunkText = (d) => (typeof d.text === "string" ? d.text : "");

export class LiveFeed {
  constructor() {
    this.requests = new Map(); // request id -> card model, insertion ordered
    this.cardsNode = byId("live-cards");
    this.logBody = byId("events-body");
    this.pendingRows = [];
    this.lastLogId = 0;
    this.logCount = 0;
    this.frame = 0;
    this.lastLogRender = 0;
    this.logTimer = 0;
    this.paused = false;
    byId("events-pause").addEventListener("change", (e) => {
      this.paused = e.target.checked;
      if (!this.paused) this.schedule();
    });
    this.emptyNote = el("p", { class: "muted small empty-note", text: "Requests appear here as they arrive." });
    this.cardsNode.append(this.emptyNote);
  }

  // -- intake (no DOM) ----------------------------------------------------------------------

  /** fromLog: the event came from GET /events (history), not the live feed. */
  push(event, fromLog = false) {
    if (event.id && event.id <= this.lastLogId) return;
    if (!fromLog || Date.now() - event.ts < CARD_LINGER_MS) this.track(event);
    if (!LOG_SKIP.has(event.type)) {
      if (event.id) this.lastLogId = event.id;
      this.pendingRows.push(event);
      if (this.pendingRows.length > MAX_LOG_ROWS) this.pendingRows.splice(0, this.pendingRows.length - MAX_LOG_ROWS);
    }
    this.schedule();
  }

  track(event) {
    const d = event.data;
    const id = rid(d);
    if (!id) return;
    let card = this.requests.get(id);
    if (!card) {
      if (event.type !== "request" && event.type !== "queued" && event.type !== "started") return;
      card = {
        id,
        source: "",
        model: "",
        worker: "",
        state: "queued",
        note: "",
        text: "",
        chars: 0,
        input: 0,
        output: 0,
        arrived: event.ts,
        ended: 0,
        dirty: true,
      };
      this.requests.set(id, card);
      if (this.requests.size > MAX_TRACKED) this.requests.delete(this.requests.keys().next().value);
    }
    card.dirty = true;
    switch (event.type) {
      case "request":
        card.source = String(d.source ?? "");
        card.model = String(d.model ?? "");
        card.note = d.stream === false ? "non-streaming" : "streaming";
        break;
      case "queued":
        card.state = "queued";
        card.note = `queued${d.depth ? ` · depth ${d.depth}` : ""}${d.reason ? ` · ${d.reason}` : ""}`;
        break;
      case "started":
        card.state = "running";
        card.worker = String(d.worker ?? "");
        card.startedAt = event.ts;
        card.note = `attempt ${d.attempt ?? 1}${d.waited_ms ? ` · waited ${fmtMs(d.waited_ms)}` : ""}`;
        break;
      case "chunk": {
        const piece = chunkText(d);
        card.chars += piece.length;
        card.text = (card.text + piece).slice(-MAX_CARD_TEXT);
        card.state = "running";
        break;
      }
      case "session": {
        // how the worker served the turn: its conversation's live process, a warm one, or cold
        const how = String(d.served ?? "");
        const rebuilt = d.rebuild_reason ? ` (rebuilt: ${d.rebuild_reason})` : "";
        if (how) card.note = `${card.note ? `${card.note} · ` : ""}${how}${rebuilt}`;
        break;
      }
      case "retry":
        card.note = `retry after ${d.error ?? "error"} on ${workerLabel(d.failed_worker ?? "?")}`;
        break;
      case "complete":
      case "error":
        card.state = event.type === "complete" ? "done" : "failed";
        card.ended = event.ts;
        card.worker = String(d.worker ?? card.worker);
        card.source = card.source || String(d.source ?? "");
        card.model = card.model || String(d.model ?? "");
        card.input = Number(d.input_tokens || 0) + Number(d.cache_read_tokens || 0) + Number(d.cache_write_tokens || 0);
        card.output = Number(d.output_tokens || 0);
        card.note =
          event.type === "complete"
            ? `${fmtInt(card.input)} → ${fmtInt(card.output)} tokens · ${fmtMs(d.duration_ms)}${d.ttft_ms ? ` · first token ${fmtMs(d.ttft_ms)}` : ""}`
            : `${d.error_category || d.status || "error"} · ${fmtMs(d.duration_ms)}`;
        break;
      default:
        break;
    }
  }

  /** Estimated live tokens of running requests by model family (chars / 4 while streaming). */
  liveByFamily() {
    const out = {};
    for (const c of this.requests.values()) {
      if (c.state !== "running" || !c.chars) continue;
      const slot = (out[familyOf(c.model)] ||= { input: 0, output: 0, total: 0 });
      const tokens = Math.ceil(c.chars / 4);
      slot.output += tokens;
      slot.total += tokens;
    }
    return out;
  }

  // -- rendering (once per frame) -----------------------------------------------------------

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    this.renderCards();
    if (this.paused || !this.pendingRows.length) return;
    // The log is read, not watched: a few writes a second are plenty, even at 1000 events/s.
    const wait = this.lastLogRender + LOG_INTERVAL_MS - performance.now();
    if (wait <= 0) {
      this.lastLogRender = performance.now();
      this.renderLog();
    } else if (!this.logTimer) {
      this.logTimer = setTimeout(() => {
        this.logTimer = 0;
        this.schedule();
      }, wait);
    }
  }

  visibleCards() {
    const now = Date.now();
    const all = [...this.requests.values()].filter((c) => !c.ended || now - c.ended < CARD_LINGER_MS);
    const running = all.filter((c) => !c.ended);
    const done = all.filter((c) => c.ended);
    return [...running.reverse(), ...done.sort((a, b) => b.ended - a.ended)].slice(0, MAX_CARDS);
  }

  renderCards() {
    const cards = this.visibleCards();
    const want = new Set(cards.map((c) => c.id));
    for (const c of this.requests.values()) {
      if (c.node && !want.has(c.id)) {
        c.node.remove();
        c.node = null;
      }
    }
    let previous = null;
    for (const c of cards) {
      if (!c.node) this.makeCard(c);
      if (c.dirty) this.updateCard(c);
      const expected = previous ? previous.nextSibling : this.cardsNode.firstChild;
      if (expected !== c.node) this.cardsNode.insertBefore(c.node, expected);
      previous = c.node;
    }
    this.emptyNote.hidden = cards.length > 0;
    if (this.emptyNote.parentNode !== this.cardsNode || this.cardsNode.lastChild !== this.emptyNote) this.cardsNode.append(this.emptyNote);
    const running = [...this.requests.values()].filter((c) => !c.ended).length;
    setText(byId("live-summary"), running ? `${running} in flight` : cards.length ? "idle" : "waiting for requests");
  }

  makeCard(c) {
    const r = {
      state: el("span", { class: "card-state" }),
      source: el("span", { class: "card-source mono" }),
      model: el("span", { class: "badge" }),
      worker: el("span", { class: "badge badge-worker" }),
      age: el("span", { class: "muted card-age" }),
      note: el("div", { class: "card-note" }),
      text: el("pre", { class: "card-text" }),
      chars: el("span", { class: "muted card-chars" }),
    };
    c.refs = r;
    c.node = el(
      "article",
      { class: "rcard", "data-request-id": c.id },
      el("div", { class: "card-top" }, r.state, r.source, el("span", { class: "spacer" }), r.model, r.worker, r.age),
      r.note,
      r.text,
      el("div", { class: "card-foot" }, el("span", { class: "muted mono", text: truncate(c.id, 36) }), r.chars),
    );
  }

  updateCard(c) {
    const r = c.refs;
    c.dirty = false;
    const labels = { queued: "queued", running: "streaming", done: "✓ done", failed: "✕ failed" };
    setText(r.state, labels[c.state] || c.state);
    r.state.className = `card-state cs-${c.state}`;
    c.node.className = `rcard rc-${c.state}`;
    setText(r.source, c.source || "(no source)");
    r.source.title = c.source;
    setText(r.model, c.model || "model?");
    setText(r.worker, c.worker ? workerLabel(c.worker) : "unassigned");
    setText(r.note, c.note);
    r.text.hidden = !c.text;
    setText(r.text, c.chars > c.text.length ? "…" + c.text : c.text.trimStart());
    const chars = c.chars ? `${fmtInt(c.chars)} chars${c.state === "running" ? ` · ~${fmtInt(Math.ceil(c.chars / 4))} tok` : ""}` : "";
    const idle = c.state === "running" ? "waiting for text" : c.state === "queued" ? "" : "no text streamed";
    setText(r.chars, chars || idle);
    this.updateAge(c);
  }

  updateAge(c) {
    const end = c.ended || Date.now();
    setText(c.refs.age, fmtDuration((end - c.arrived) / 1000));
    if (c.ended && Date.now() - c.ended > CARD_LINGER_MS - 5000) c.node.classList.add("fading");
  }

  /** Once a second: ages, fading and expiry of finished cards. */
  tick() {
    for (const c of this.requests.values()) if (c.node) this.updateAge(c);
    this.schedule();
  }

  renderLog() {
    if (!this.pendingRows.length) return;
    const rows = this.pendingRows.splice(0);
    const frag = document.createDocumentFragment();
    for (let i = rows.length - 1; i >= 0; i--) frag.append(logRow(rows[i]));
    this.logBody.prepend(frag);
    while (this.logBody.childElementCount > MAX_LOG_ROWS) this.logBody.lastElementChild.remove();
    this.logCount += rows.length;
    setText(byId("events-count"), `${fmtInt(this.logCount)} seen · newest ${Math.min(this.logBody.childElementCount, MAX_LOG_ROWS)} shown`);
  }
}

function logRow(event) {
  const d = event.data || {};
  const input = (d.input_tokens || 0) + (d.cache_read_tokens || 0) + (d.cache_write_tokens || 0);
  const output = d.output_tokens;
  const tokens = input || output ? `${fmtCompact(input || 0)} → ${fmtCompact(output || 0)}` : "";
  const details = el("td", { class: "ev-details" });
  for (const [key, value] of Object.entries(d)) {
    if (HIDDEN_KEYS.has(key) || value === null || value === undefined || value === "") continue;
    const text = typeof value === "object" ? JSON.stringify(value) : String(value);
    details.append(el("span", { class: "ev-kv", title: `${key}=${text}` }, el("span", { class: "k", text: `${key}=` }), truncate(text, 40)));
  }
  return el(
    "tr",
    {},
    el("td", { class: "mono ev-time", text: fmtClock(event.ts) }),
    el("td", {}, el("span", { class: `tag ${TYPE_CLASS[event.type] || "t-other"}`, text: event.type })),
    el("td", { class: "num mono ev-tokens", text: tokens }),
    details,
  );
}
