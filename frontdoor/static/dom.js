// DOM and formatting helpers. Every string reaches the page through textContent or an
// attribute set by the DOM API: no string is ever parsed as HTML, here or anywhere else.

/** Create an element: el("div", {class: "x", title: "t"}, "text", childNode, ...). */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = String(value);
      else if (key.startsWith("on")) {
        // listeners only: an on* attribute is never set from a string
        if (typeof value === "function") node.addEventListener(key.slice(2), value);
      }
      else node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

export const byId = (id) => document.getElementById(id);

/** Replace all children of `node` with `children` (one DOM write). */
export function fill(node, ...children) {
  const frag = document.createDocumentFragment();
  append(frag, children);
  node.replaceChildren(frag);
}

/** Set textContent only when it changed (cheap to call every refresh). */
export function setText(node, value) {
  const text = String(value ?? "");
  if (node.textContent !== text) node.textContent = text;
}

export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  return Math.round(Number(n)).toLocaleString("en-US");
}

/** 1234 -> "1.2k", 5_600_000 -> "5.6M". */
export function fmtCompact(n) {
  const v = Number(n) || 0;
  const abs = Math.abs(v);
  if (abs >= 1e9) return (v / 1e9).toFixed(abs >= 1e10 ? 0 : 1) + "B";
  if (abs >= 1e6) return (v / 1e6).toFixed(abs >= 1e7 ? 0 : 1) + "M";
  if (abs >= 1e3) return (v / 1e3).toFixed(abs >= 1e4 ? 0 : 1) + "k";
  return String(Math.round(v));
}

/** Seconds -> "3d 4h", "2h 5m", "4m 10s", "12s". */
export function fmtDuration(seconds) {
  let s = Math.max(0, Math.floor(Number(seconds) || 0));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

/** Bytes -> "512 KiB", "300 MiB", "1.2 GiB" (binary units, as ps and top count memory). */
export function fmtBytes(n) {
  const v = Math.max(0, Number(n) || 0);
  const GiB = 1024 ** 3;
  if (v >= GiB) return `${(v / GiB).toFixed(v >= 10 * GiB ? 0 : 1)} GiB`;
  if (v >= 1024 ** 2) return `${Math.round(v / 1024 ** 2)} MiB`;
  if (v >= 1024) return `${Math.round(v / 1024)} KiB`;
  return `${Math.round(v)} B`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return "–";
  const v = Number(ms);
  return v >= 10000 ? `${(v / 1000).toFixed(0)}s` : v >= 1000 ? `${(v / 1000).toFixed(1)}s` : `${Math.round(v)}ms`;
}

/** Unix seconds or ms -> "14:03:07". */
export function fmtClock(ts) {
  const ms = ts > 1e12 ? ts : ts * 1000;
  return new Date(ms).toLocaleTimeString("en-GB", { hour12: false });
}

export function fmtAgo(ts) {
  if (!ts) return "never";
  const ms = ts > 1e12 ? ts : ts * 1000;
  return fmtDuration((Date.now() - ms) / 1000) + " ago";
}

export function truncate(text, max) {
  const s = String(text ?? "");
  return s.length > max ? s.slice(0, max - 1) + "…" : s;
}

/** "n/limit" strings or {used, limit} pairs -> fraction in [0, ∞). */
export function ratio(used, limit) {
  const u = Number(used) || 0;
  const l = Number(limit) || 0;
  return l > 0 ? u / l : 0;
}

/** green < 60 %, amber < 85 %, red above. */
export function levelClass(fraction) {
  if (fraction >= 0.85) return "lvl-red";
  if (fraction >= 0.6) return "lvl-amber";
  return "lvl-green";
}

/**
 * A list of DOM nodes kept in step with data by key: existing nodes are updated in place (so
 * buttons keep focus and nothing flickers), new keys get a node, gone keys lose theirs.
 * make(item) returns {node, update(item)}.
 */
export class KeyedList {
  constructor(container, keyOf, make) {
    this.container = container;
    this.keyOf = keyOf;
    this.make = make;
    this.items = new Map();
  }

  sync(list) {
    const seen = new Set();
    let previous = null;
    for (const item of list) {
      const key = this.keyOf(item);
      seen.add(key);
      let entry = this.items.get(key);
      if (!entry) {
        entry = this.make(item);
        this.items.set(key, entry);
      }
      entry.update(item);
      const want = previous ? previous.nextSibling : this.container.firstChild;
      if (want !== entry.node) this.container.insertBefore(entry.node, want);
      previous = entry.node;
    }
    for (const [key, entry] of this.items) {
      if (!seen.has(key)) {
        entry.node.remove();
        this.items.delete(key);
      }
    }
  }
}
