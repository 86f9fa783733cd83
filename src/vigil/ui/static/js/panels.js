// Dashboard panels: variables in expressions, units, thresholds, and drawing each panel type
// (time series with uPlot; stat, gauge, bar gauge and table from instant or range queries).
// Everything from the server is inserted as text or through the CSSOM, never as HTML.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { api, el, seriesName } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

// -- variables -----------------------------------------------------------------------------------

const VAR_RE = /\$(\w+)|\$\{(\w+)(?::(\w+))?\}|\[\[(\w+)(?::(\w+))?\]\]/g;
const REGEX_SPECIAL = /[\\^$*+?.()|[\]{}/]/g;

function secondsText(s) {
  s = Math.max(1, Math.round(s));
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60]]) if (s % size === 0) return `${s / size}${unit}`;
  return `${s}s`;
}

// Grafana's built-ins for a query over rangeS seconds at stepS (as dashboard_model.builtin_values).
export function builtinValues(rangeS, stepS, scrapeS = 15) {
  const rate = Math.max(stepS + scrapeS, 4 * scrapeS);
  return {
    __interval: secondsText(stepS),
    __interval_ms: String(Math.round(stepS * 1000)),
    __rate_interval: secondsText(rate),
    __range: secondsText(rangeS),
    __range_s: String(Math.round(rangeS)),
    __range_ms: String(Math.round(rangeS * 1000)),
  };
}

// $var, ${var}, ${var:fmt}, [[var]] replaced as Grafana does (as dashboard_model.interpolate).
export function interpolate(expr, values, variables = [], builtins = {}, allSelected = []) {
  const byName = Object.fromEntries(variables.map((v) => [v.name, v]));
  return expr.replace(VAR_RE, (whole, plain, braced, fmt1, old, fmt2) => {
    const name = plain || braced || old;
    const fmt = fmt1 || fmt2 || "";
    if (Object.prototype.hasOwnProperty.call(builtins, name)) return builtins[name];
    if (!Object.prototype.hasOwnProperty.call(values, name)) return whole;
    const v = byName[name];
    if (v && allSelected.includes(name) && v.allValue !== undefined && v.allValue !== null) return v.allValue;
    const vals = values[name];
    if (!vals.length) return "";
    if (fmt === "raw" || fmt === "csv") return vals.join(",");
    if (fmt === "pipe") return vals.join("|");
    if (fmt === "json") return JSON.stringify(vals);
    const regex = fmt === "regex" || (v && (v.multi || v.includeAll)) || vals.length > 1;
    if (!regex) return vals[0];
    const escaped = vals.map((x) => x.replace(REGEX_SPECIAL, (c) => "\\\\" + c));
    return escaped.length === 1 ? escaped[0] : "(" + escaped.join("|") + ")";
  });
}

// A series' name from a legend format: "{{route}} {{ status }}"; empty: the whole label set.
export function legendName(metric, format) {
  if (!format) return seriesName(metric);
  return format.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, k) => (metric[k] === undefined ? "" : metric[k]));
}

// -- units ---------------------------------------------------------------------------------------

function fixed(v, decimals, auto = 3) {
  if (decimals !== null && decimals !== undefined) return v.toFixed(decimals);
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 1e15 || a < 1e-4) return v.toExponential(2);
  const d = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : auto;
  return String(Number(v.toFixed(d)));
}

function scaled(v, decimals, base, units) {
  let i = 0;
  let x = v;
  while (Math.abs(x) >= base && i < units.length - 1) {
    x /= base;
    i++;
  }
  return fixed(x, decimals) + units[i];
}

function duration(v, decimals, fromUnit) {
  const secs = v * { ns: 1e-9, "µs": 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600, d: 86400 }[fromUnit];
  const a = Math.abs(secs);
  if (a === 0) return "0 s";
  if (a < 1e-6) return fixed(secs * 1e9, decimals) + " ns";
  if (a < 1e-3) return fixed(secs * 1e6, decimals) + " µs";
  if (a < 1) return fixed(secs * 1e3, decimals) + " ms";
  if (a < 60) return fixed(secs, decimals) + " s";
  if (a < 3600) return fixed(secs / 60, decimals) + " min";
  if (a < 86400) return fixed(secs / 3600, decimals) + " hour";
  return fixed(secs / 86400, decimals) + " day";
}

const SI = ["", " K", " M", " G", " T", " P"];
const SHORT = ["", " K", " Mil", " Bil", " Tri"];

// A value in a unit (Grafana's unit ids), with decimals (null: automatic).
export function formatValue(v, unit = "short", decimals = null) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (!isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  switch (unit) {
    case "none":
      return fixed(v, decimals);
    case "percent":
      return fixed(v, decimals) + "%";
    case "percentunit":
      return fixed(v * 100, decimals) + "%";
    case "ns": case "µs": case "ms": case "s": case "m": case "h": case "d":
      return duration(v, decimals, unit);
    case "bytes":
      return scaled(v, decimals, 1024, [" B", " KiB", " MiB", " GiB", " TiB", " PiB"]);
    case "decbytes":
      return scaled(v, decimals, 1000, [" B", " kB", " MB", " GB", " TB", " PB"]);
    case "kbytes":
      return scaled(v * 1024, decimals, 1024, [" B", " KiB", " MiB", " GiB", " TiB", " PiB"]);
    case "mbytes":
      return scaled(v * 1024 * 1024, decimals, 1024, [" B", " KiB", " MiB", " GiB", " TiB", " PiB"]);
    case "gbytes":
      return scaled(v * 1024 ** 3, decimals, 1024, [" B", " KiB", " MiB", " GiB", " TiB", " PiB"]);
    case "bits":
      return scaled(v, decimals, 1000, [" b", " kb", " Mb", " Gb", " Tb"]);
    case "bps":
      return scaled(v, decimals, 1000, [" b/s", " kb/s", " Mb/s", " Gb/s", " Tb/s"]);
    case "Bps":
      return scaled(v, decimals, 1000, [" B/s", " kB/s", " MB/s", " GB/s", " TB/s"]);
    case "binBps":
      return scaled(v, decimals, 1024, [" B/s", " KiB/s", " MiB/s", " GiB/s", " TiB/s"]);
    case "reqps": case "rps":
      return scaled(v, decimals, 1000, SI) + " req/s";
    case "ops":
      return scaled(v, decimals, 1000, SI) + " ops/s";
    case "opm": case "rpm":
      return scaled(v, decimals, 1000, SI) + (unit === "opm" ? " ops/min" : " req/min");
    case "wps":
      return scaled(v, decimals, 1000, SI) + " wr/s";
    case "iops":
      return scaled(v, decimals, 1000, SI) + " io/s";
    case "hertz":
      return scaled(v, decimals, 1000, [" Hz", " kHz", " MHz", " GHz"]);
    case "celsius":
      return fixed(v, decimals) + " °C";
    case "watt":
      return scaled(v, decimals, 1000, [" W", " kW", " MW", " GW"]);
    case "volt":
      return fixed(v, decimals) + " V";
    case "amp":
      return fixed(v, decimals) + " A";
    case "locale":
      return v.toLocaleString();
    default:
      return scaled(v, decimals, 1000, SHORT);
  }
}

// -- colours -------------------------------------------------------------------------------------

const NAMED = {
  green: "#56a64b", red: "#e02f44", yellow: "#f2cc0c", orange: "#ff9830", blue: "#3274d9", purple: "#a352cc",
  gray: "#8e8e8e", grey: "#8e8e8e", text: "", transparent: "transparent",
};

// Grafana's colour names ("semi-dark-red") as CSS; anything else as given.
export function cssColor(name) {
  if (!name) return "";
  const base = name.replace(/^(super-light|light|semi-dark|dark)-/, "");
  if (Object.prototype.hasOwnProperty.call(NAMED, base)) return NAMED[base];
  return name;
}

export function thresholdColor(value, thresholds) {
  let color = "";
  for (const t of thresholds || []) {
    if (t.value === null || t.value === undefined || (value !== null && value >= t.value)) color = t.color;
  }
  return cssColor(color);
}

export function seriesColor(i) {
  return `hsl(${(i * 137.508) % 360}, 65%, 45%)`;
}

// -- data ----------------------------------------------------------------------------------------

function num(text) {
  if (text === "+Inf") return Infinity;
  if (text === "-Inf") return -Infinity;
  const v = parseFloat(text);
  return Number.isNaN(v) ? null : v;
}

export function reduce(values, how) {
  const vs = values.filter((v) => v !== null && isFinite(v));
  if (!vs.length) return null;
  switch (how) {
    case "first":
      return vs[0];
    case "mean":
      return vs.reduce((a, b) => a + b, 0) / vs.length;
    case "max":
      return Math.max(...vs);
    case "min":
      return Math.min(...vs);
    case "sum":
      return vs.reduce((a, b) => a + b, 0);
    default:
      return vs[vs.length - 1];
  }
}

// Whether a panel needs a range query (time series, sparklines, reducers over time).
export function needsRange(panel) {
  if (panel.type === "timeseries") return true;
  if (panel.type === "table") return false;
  return panel.type === "stat" ? Boolean(panel.sparkline) || panel.reduce !== "last" : (panel.reduce || "last") !== "last";
}

// Runs a panel's visible targets; returns [{name, metric, values: [[t, v]...]}] and what was asked.
async function fetchSeries(panel, ctx) {
  const range = needsRange(panel);
  const builtins = builtinValues(ctx.end - ctx.start, ctx.step);
  const asked = [];
  const targets = (panel.targets || []).filter((t) => !t.hide);
  // All targets at once (a p50/p95/p99 panel waits for the slowest, not for the sum).
  const answers = await Promise.all(
    targets.map((t) => {
      const expr = ctx.interpolate(t.expr, builtins);
      const instant = !range || Boolean(t.instant);
      asked.push({ expr, instant });
      return instant
        ? api("/api/v1/query", { method: "POST", params: { query: expr, time: ctx.end }, signal: ctx.signal })
        : api("/api/v1/query_range", {
            method: "POST",
            params: { query: expr, start: ctx.start, end: ctx.end, step: ctx.step },
            signal: ctx.signal,
          });
    }),
  );
  const out = [];
  for (const [i, t] of targets.entries()) {
    const expr = asked[i].expr;
    const d = answers[i].data;
    const legend = t.legendFormat || "";
    if (d.resultType === "matrix") {
      for (const s of d.result) out.push({ name: legendName(s.metric, legend), metric: s.metric, values: s.values.map(([ts, v]) => [ts, num(v)]) });
    } else if (d.resultType === "vector") {
      for (const s of d.result) out.push({ name: legendName(s.metric, legend), metric: s.metric, values: [[s.value[0], num(s.value[1])]] });
    } else if (d.resultType === "scalar") {
      out.push({ name: legend || expr, metric: {}, values: [[d.result[0], num(d.result[1])]] });
    }
  }
  return { series: out, asked, range };
}

// -- drawing -------------------------------------------------------------------------------------

// Draws *panel* into *body*; resolves to {series, points, asked} (or throws the query's error).
export async function renderPanel(panel, body, ctx) {
  if (panel.type === "text") {
    body.replaceChildren(el("div", { class: "text" }, panel.content || ""));
    return { series: 0, points: 0, asked: [] };
  }
  if (panel.type === "unsupported") {
    body.replaceChildren(el("div", { class: "placeholder" }, panel.note || "not supported"));
    return { series: 0, points: 0, asked: [] };
  }
  const { series, asked } = await fetchSeries(panel, ctx);
  const points = series.reduce((n, s) => n + s.values.length, 0);
  if (ctx.signal && ctx.signal.aborted) return { series: series.length, points, asked };
  if (!series.length) {
    body.replaceChildren(el("div", { class: "placeholder" }, "No data"));
    return { series: 0, points: 0, asked, plot: null };
  }
  let plot = null;
  if (panel.type === "timeseries") plot = drawTimeseries(panel, body, series, ctx);
  else if (panel.type === "stat") drawStats(panel, body, series);
  else if (panel.type === "gauge") drawGauges(panel, body, series);
  else if (panel.type === "bar") drawBars(panel, body, series);
  else if (panel.type === "table") drawTable(panel, body, series);
  return { series: series.length, points, asked, plot };
}

function drawTimeseries(panel, body, series, ctx) {
  const { start, end, step } = ctx;
  const n = Math.floor((end - start) / step) + 1;
  const xs = new Array(n);
  for (let i = 0; i < n; i++) xs[i] = start + i * step;
  const raw = series.map((s) => {
    const ys = new Array(n).fill(null);
    for (const [t, v] of s.values) {
      const i = Math.round((t - start) / step);
      if (i >= 0 && i < n) ys[i] = v === null || !isFinite(v) ? null : v;
    }
    return ys;
  });
  let shown = raw;
  if (panel.stacked) {
    const acc = new Array(n).fill(0);
    shown = raw.map((ys) => ys.map((v, i) => (v === null ? null : (acc[i] += v))));
  }
  const unit = panel.unit || "short";
  const fmt = (v) => formatValue(v, unit, panel.decimals);
  const uSeries = [
    {},
    ...series.map((s, i) => ({
      label: s.name,
      stroke: seriesColor(i),
      width: 1.25,
      fill: panel.stacked ? seriesColor(i).replace("hsl", "hsla").replace(")", ", 0.3)") : undefined,
      value: (u, v, si, idx) => (idx === null || idx === undefined ? "–" : fmt(raw[si - 1][idx])),
      spanGaps: false,
      points: { show: false },
    })),
  ];
  const yRange = panel.min !== undefined || panel.max !== undefined
    ? (u, lo, hi) => [panel.min ?? lo, panel.max ?? hi]
    : undefined;
  body.replaceChildren();
  const height = Math.max(60, body.clientHeight - 8);
  const legendRows = Math.min(2, Math.ceil(series.length / 4));
  const opts = {
    width: Math.max(100, body.clientWidth - 8),
    height: Math.max(50, height - legendRows * 18 - 8),
    series: uSeries,
    scales: { x: { time: true }, y: yRange ? { range: yRange } : {} },
    axes: [
      { size: 30 },
      {
        values: (u, vals) => vals.map(fmt),
        size: (u, values) => 16 + 7 * Math.max(3, ...(values || []).map((v) => String(v).length)),
      },
    ],
    cursor: { drag: { x: true, y: false, setScale: false }, focus: { prox: 16 } },
    legend: { live: true },
    focus: { alpha: 0.4 },
    hooks: {
      setSelect: [
        (u) => {
          if (u.select.width < 5 || !ctx.zoom) return;
          const from = u.posToVal(u.select.left, "x");
          const to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          ctx.zoom(from, to);
        },
      ],
    },
  };
  return new uPlot(opts, [xs, ...shown], body);
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function sparkline(values, color) {
  const pts = values.filter(([, v]) => v !== null && isFinite(v));
  const box = svg("svg", { class: "spark", viewBox: "0 0 100 30", preserveAspectRatio: "none" });
  if (pts.length < 2) return box;
  const t0 = pts[0][0], t1 = pts[pts.length - 1][0];
  let lo = Infinity, hi = -Infinity;
  for (const [, v] of pts) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (hi === lo) hi = lo + 1;
  const xy = pts.map(([t, v]) => `${(((t - t0) / (t1 - t0 || 1)) * 100).toFixed(2)},${(30 - ((v - lo) / (hi - lo)) * 28 - 1).toFixed(2)}`);
  const c = color || "#3274d9";
  box.append(svg("polygon", { points: `0,30 ${xy.join(" ")} 100,30`, fill: c, "fill-opacity": 0.15, stroke: "none" }));
  box.append(svg("polyline", { points: xy.join(" "), fill: "none", stroke: c, "stroke-width": 1.2, "vector-effect": "non-scaling-stroke" }));
  return box;
}

function drawStats(panel, body, series) {
  const box = el("div", { class: "stats" });
  for (const s of series) {
    const v = reduce(s.values.map(([, x]) => x), panel.reduce || "last");
    const color = thresholdColor(v, panel.thresholds);
    const value = el("div", { class: "value" }, formatValue(v, panel.unit, panel.decimals));
    if (color) value.style.color = color;
    const cell = el("div", { class: "stat" }, value);
    if (series.length > 1) cell.append(el("div", { class: "name", title: s.name }, s.name));
    if (panel.sparkline && s.values.length > 1) cell.append(sparkline(s.values, color));
    box.append(cell);
  }
  body.replaceChildren(box);
}

function bounds(panel, values) {
  let lo = panel.min, hi = panel.max;
  if (lo === undefined || lo === null) lo = 0;
  if (hi === undefined || hi === null) {
    if (panel.unit === "percent") hi = 100;
    else if (panel.unit === "percentunit") hi = 1;
    else {
      const steps = (panel.thresholds || []).filter((t) => t.value !== null && t.value !== undefined).map((t) => t.value);
      hi = Math.max(...values.filter((v) => v !== null && isFinite(v)), ...steps, lo + 1);
      if (steps.length) hi = Math.max(hi, steps[steps.length - 1] * 1.2);
    }
  }
  return [lo, hi > lo ? hi : lo + 1];
}

function arc(cx, cy, r, a0, a1) {
  const p = (a) => [cx + r * Math.cos(a), cy + r * Math.sin(a)];
  const [x0, y0] = p(a0), [x1, y1] = p(a1);
  return `M ${x0.toFixed(2)} ${y0.toFixed(2)} A ${r} ${r} 0 ${a1 - a0 > Math.PI ? 1 : 0} 1 ${x1.toFixed(2)} ${y1.toFixed(2)}`;
}

function drawGauges(panel, body, series) {
  const values = series.map((s) => reduce(s.values.map(([, x]) => x), panel.reduce || "last"));
  const [lo, hi] = bounds(panel, values);
  const box = el("div", { class: "gauges" });
  const A0 = Math.PI * 0.75, SPAN = Math.PI * 1.5;
  series.forEach((s, i) => {
    const v = values[i];
    const frac = v === null ? 0 : Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
    const color = thresholdColor(v, panel.thresholds) || "#3274d9";
    const g = svg("svg", { viewBox: "0 0 100 80" });
    g.append(svg("path", { d: arc(50, 50, 38, A0, A0 + SPAN), fill: "none", stroke: "currentColor", "stroke-opacity": 0.12, "stroke-width": 9 }));
    if (frac > 0.001) g.append(svg("path", { d: arc(50, 50, 38, A0, A0 + SPAN * frac), fill: "none", stroke: color, "stroke-width": 9 }));
    const text = svg("text", { x: 50, y: 56, "text-anchor": "middle", "font-size": 14, "font-weight": 600, fill: color });
    text.textContent = formatValue(v, panel.unit, panel.decimals);
    g.append(text);
    const cell = el("div", { class: "gauge" }, g);
    if (series.length > 1) cell.append(el("div", { class: "name", title: s.name }, s.name));
    box.append(cell);
  });
  body.replaceChildren(box);
}

function drawBars(panel, body, series) {
  const values = series.map((s) => reduce(s.values.map(([, x]) => x), panel.reduce || "last"));
  const [lo, hi] = bounds(panel, values);
  const box = el("div", { class: "bars" });
  series.forEach((s, i) => {
    const v = values[i];
    const frac = v === null ? 0 : Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
    const fill = el("div", { class: "fill" });
    fill.style.width = `${(frac * 100).toFixed(1)}%`;
    fill.style.background = thresholdColor(v, panel.thresholds) || seriesColor(i);
    box.append(
      el(
        "div",
        { class: "bar" },
        el("span", { class: "name", title: s.name }, s.name),
        el("div", { class: "track" }, fill),
        el("span", { class: "value" }, formatValue(v, panel.unit, panel.decimals)),
      ),
    );
  });
  body.replaceChildren(box);
}

function drawTable(panel, body, series) {
  const labels = [];
  for (const s of series) for (const k of Object.keys(s.metric)) if (!labels.includes(k)) labels.push(k);
  labels.sort((a, b) => (a === "__name__" ? -1 : b === "__name__" ? 1 : a.localeCompare(b)));
  const rows = series.map((s) => ({ s, v: reduce(s.values.map(([, x]) => x), "last") }));
  let sortKey = null, desc = false;
  const table = el("table", { class: "grid" });
  const render = () => {
    const sorted = [...rows];
    if (sortKey === "__value") sorted.sort((a, b) => (a.v ?? -Infinity) - (b.v ?? -Infinity));
    else if (sortKey !== null) sorted.sort((a, b) => String(a.s.metric[sortKey] ?? "").localeCompare(String(b.s.metric[sortKey] ?? "")));
    if (desc) sorted.reverse();
    const head = el("tr", {}, [...labels.map((k) => el("th", { "data-k": k }, k === "__name__" ? "metric" : k)), el("th", { "data-k": "__value", class: "num" }, "Value")]);
    const bodyRows = sorted.map(({ s, v }) => {
      const cell = el("td", { class: "num" }, formatValue(v, panel.unit, panel.decimals));
      const color = thresholdColor(v, panel.thresholds);
      if (color && (panel.thresholds || []).length > 1) cell.style.color = color;
      return el("tr", {}, [...labels.map((k) => el("td", {}, s.metric[k] ?? "")), cell]);
    });
    table.replaceChildren(el("thead", {}, head), el("tbody", {}, bodyRows));
  };
  table.addEventListener("click", (ev) => {
    const th = ev.target.closest("th");
    if (!th) return;
    desc = sortKey === th.dataset.k ? !desc : false;
    sortKey = th.dataset.k;
    render();
  });
  render();
  body.replaceChildren(el("div", { class: "tablewrap" }, table));
}
