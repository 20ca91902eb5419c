// A small SVG time-series chart: a few series, grid, axis labels, legend and a hover readout.
// Colours come from the stylesheet (classes s0, s1, ...), so no inline styles are needed.

import { el, fmtCompact } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const PAD = { top: 12, right: 12, bottom: 22, left: 44 };

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

/** A round axis maximum: 4 grid steps of 1, 2 or 5 × 10^k (at least 1 per step). */
function niceMax(value) {
  const raw = Math.max(value, 1) / 4;
  const exp = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * exp).find((v) => v >= raw);
  return Math.max(1, step) * 4;
}

function timeLabel(ms, spanMs) {
  const d = new Date(ms);
  if (spanMs > 2 * 86400e3) return d.toLocaleDateString("en-GB", { weekday: "short", hour: "2-digit" });
  return d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false });
}

export class TimeChart {
  /** series: [{key, label}] in drawing order; the first is also filled as an area. */
  constructor(host, series, { height = 190 } = {}) {
    this.host = host;
    this.series = series;
    this.height = height;
    this.points = [];
    this.root = el("div", { class: "chart" });
    this.svg = svg("svg", { class: "chart-svg", role: "img" });
    this.tip = el("div", { class: "chart-tip", hidden: true });
    this.empty = el("div", { class: "chart-empty", text: "no data yet" });
    this.legend = el(
      "div",
      { class: "chart-legend" },
      series.map((s, i) => el("span", { class: "legend-item" }, el("i", { class: `sw s${i}` }), s.label)),
    );
    this.root.append(this.svg, this.tip, this.empty);
    host.append(this.legend, this.root);
    this.svg.addEventListener("pointermove", (e) => this.hover(e));
    this.svg.addEventListener("pointerleave", () => this.unhover());
    new ResizeObserver(() => this.draw()).observe(this.root);
  }

  /** points: [{t: ms, v: {key: number}}], oldest first. */
  update(points) {
    this.points = points;
    this.draw();
  }

  geometry() {
    const width = Math.max(200, this.root.clientWidth || 600);
    const pts = this.points;
    const t0 = pts.length ? pts[0].t : 0;
    const t1 = pts.length ? pts[pts.length - 1].t : 1;
    let max = 0;
    for (const p of pts) for (const s of this.series) max = Math.max(max, Number(p.v[s.key]) || 0);
    const yMax = niceMax(max);
    const w = width - PAD.left - PAD.right;
    const h = this.height - PAD.top - PAD.bottom;
    const x = (t) => PAD.left + (t1 === t0 ? w / 2 : ((t - t0) / (t1 - t0)) * w);
    const y = (v) => PAD.top + h - (Math.max(0, v) / yMax) * h;
    return { width, t0, t1, yMax, w, h, x, y };
  }

  draw() {
    const g = this.geometry();
    this.g = g;
    this.svg.setAttribute("viewBox", `0 0 ${g.width} ${this.height}`);
    this.svg.setAttribute("width", g.width);
    this.svg.setAttribute("height", this.height);
    const frag = document.createDocumentFragment();
    for (let i = 0; i <= 4; i++) {
      const v = (g.yMax * i) / 4;
      const yy = g.y(v);
      frag.append(svg("line", { class: "gridline", x1: PAD.left, x2: g.width - PAD.right, y1: yy, y2: yy }));
      const label = svg("text", { class: "axis", x: PAD.left - 6, y: yy + 3, "text-anchor": "end" });
      label.textContent = fmtCompact(v);
      frag.append(label);
    }
    this.empty.hidden = this.points.length > 0;
    if (this.points.length) {
      const ticks = Math.max(2, Math.min(6, Math.floor(g.w / 110)));
      for (let i = 0; i <= ticks; i++) {
        const t = g.t0 + ((g.t1 - g.t0) * i) / ticks;
        const anchor = i === 0 ? "start" : i === ticks ? "end" : "middle";
        const label = svg("text", { class: "axis", x: g.x(t), y: this.height - 6, "text-anchor": anchor });
        label.textContent = timeLabel(t, g.t1 - g.t0);
        frag.append(label);
      }
      this.series.forEach((s, i) => {
        const coords = this.points.map((p) => `${g.x(p.t).toFixed(1)},${g.y(Number(p.v[s.key]) || 0).toFixed(1)}`);
        if (i === 0 && coords.length > 1) {
          const base = g.y(0).toFixed(1);
          const area = `M${g.x(g.t0).toFixed(1)},${base} L${coords.join(" L")} L${g.x(g.t1).toFixed(1)},${base} Z`;
          frag.append(svg("path", { class: `area s${i}`, d: area }));
        }
        if (coords.length === 1) {
          const [cx, cy] = coords[0].split(",");
          frag.append(svg("circle", { class: `dot s${i}`, cx, cy, r: 3 }));
        } else if (coords.length) {
          frag.append(svg("path", { class: `line s${i}`, d: `M${coords.join(" L")}` }));
        }
      });
    }
    this.cursor = svg("line", { class: "cursor", y1: PAD.top, y2: this.height - PAD.bottom, visibility: "hidden" });
    frag.append(this.cursor);
    this.svg.replaceChildren(frag);
  }

  hover(event) {
    if (!this.points.length || !this.g) return;
    const rect = this.svg.getBoundingClientRect();
    const px = event.clientX - rect.left;
    let best = this.points[0];
    for (const p of this.points) if (Math.abs(this.g.x(p.t) - px) < Math.abs(this.g.x(best.t) - px)) best = p;
    const cx = this.g.x(best.t);
    this.cursor.setAttribute("x1", cx);
    this.cursor.setAttribute("x2", cx);
    this.cursor.setAttribute("visibility", "visible");
    const when = new Date(best.t).toLocaleString("en-GB", { hour12: false });
    this.tip.replaceChildren(
      el("div", { class: "tip-time", text: when }),
      ...this.series.map((s, i) =>
        el("div", {}, el("i", { class: `sw s${i}` }), `${s.label}: ${Math.round(Number(best.v[s.key]) || 0).toLocaleString("en-US")}`),
      ),
    );
    this.tip.hidden = false;
    const left = Math.min(cx + 10, rect.width - this.tip.offsetWidth - 4);
    this.tip.style.left = `${Math.max(4, left)}px`;
  }

  unhover() {
    this.tip.hidden = true;
    if (this.cursor) this.cursor.setAttribute("visibility", "hidden");
  }
}
