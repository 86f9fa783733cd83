// Explore: a PromQL editor (highlighting, completion, errors at their position), a uPlot graph
// (legend toggles, hover values, stacked mode, zoom by dragging) and a table, over the query API.
// All state lives in the URL's query string, so a link shares the view.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { api, el, markReady, seriesName } from "./api.js";
import { AGGREGATIONS, FUNCTIONS, KEYWORDS, completionContext, lex, offsetOf, parseErrorPosition } from "./promql.js";

const RANGES = { "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200, "1d": 86400, "2d": 172800, "7d": 604800 };
const REFRESH = { "5s": 5, "15s": 15, "30s": 30, "1m": 60, "5m": 300 };

const $ = (id) => document.getElementById(id);
const exprBox = $("expr");
const hl = $("hl");
const list = $("complete");
const errorBox = $("error");
const warnBox = $("warn");
const graphBox = $("graph");
const tableBox = $("table");
const stats = $("stats");

const state = readState(new URLSearchParams(location.search));
let plot = null;
let errorAt = null; // {start, end} of the marked error
let refreshTimer = null;
let inflight = null;
const exposed = { plot: null, state, last: null, series: 0, points: 0 };
window.vigilExplore = exposed;

function readState(q) {
  const s = {
    expr: q.get("expr") || "",
    range: q.get("range") || "1h",
    from: q.has("from") ? Number(q.get("from")) : null,
    to: q.has("to") ? Number(q.get("to")) : null,
    tab: q.get("tab") === "table" ? "table" : "graph",
    stacked: q.get("stacked") === "1",
    refresh: REFRESH[q.get("refresh")] ? q.get("refresh") : "",
  };
  if (s.from !== null && s.to !== null && isFinite(s.from) && isFinite(s.to) && s.to > s.from) s.range = "abs";
  else if (!RANGES[s.range]) s.range = "1h";
  if (s.range !== "abs") s.from = s.to = null;
  return s;
}

function stateQuery() {
  const q = new URLSearchParams();
  if (state.expr) q.set("expr", state.expr);
  if (state.range === "abs") {
    q.set("from", String(Math.round(state.from)));
    q.set("to", String(Math.round(state.to)));
  } else q.set("range", state.range);
  if (state.tab !== "graph") q.set("tab", state.tab);
  if (state.stacked) q.set("stacked", "1");
  if (state.refresh) q.set("refresh", state.refresh);
  return q;
}

function saveState(push = false) {
  const url = location.pathname + "?" + stateQuery();
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  $("share").href = url;
}

function timeRange() {
  if (state.range === "abs") return [state.from, state.to];
  const end = Math.floor(Date.now() / 1000);
  return [end - RANGES[state.range], end];
}

// -- the editor ------------------------------------------------------------------------------

function renderHighlight() {
  const text = exprBox.value;
  const frag = document.createDocumentFragment();
  for (const t of lex(text)) {
    const span = el("span", { class: "t-" + t.type }, text.slice(t.start, t.end));
    if (errorAt && t.start < Math.max(errorAt.end, errorAt.start + 1) && t.end > errorAt.start) span.classList.add("err");
    frag.append(span);
  }
  if (errorAt && errorAt.start >= text.length) frag.append(el("span", { class: "err" }, " "));
  frag.append("\n");
  hl.replaceChildren(frag);
  exprBox.rows = Math.max(2, text.split("\n").length);
}

function markError(message) {
  const pos = parseErrorPosition(message);
  errorAt = null;
  if (pos) {
    const start = offsetOf(exprBox.value, pos.line, pos.col);
    errorAt = { start, end: start + 1 };
  }
  errorBox.textContent = message;
  renderHighlight();
}

function clearError() {
  errorAt = null;
  errorBox.textContent = "";
  renderHighlight();
}

let checkTimer = null;
let checkSeq = 0;
function scheduleCheck() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(async () => {
    const text = exprBox.value;
    const seq = ++checkSeq;
    if (!text.trim()) return clearError();
    try {
      await api("/api/v1/format_query", { method: "POST", params: { query: text } });
      if (seq === checkSeq) clearError();
    } catch (err) {
      if (seq === checkSeq && err.type === "bad_data") markError(err.message);
    }
  }, 300);
}

// -- completion ------------------------------------------------------------------------------

const cache = new Map();
async function cached(key, fetcher) {
  if (!cache.has(key)) cache.set(key, fetcher().catch(() => []));
  return cache.get(key);
}
const metricNames = () => cached("names", async () => (await api("/api/v1/label/__name__/values")).data);
const labelNames = (metric) =>
  cached("labels:" + metric, async () =>
    (await api("/api/v1/labels", { params: metric ? { "match[]": metric } : null })).data.filter((n) => n !== "__name__"),
  );
const labelValues = (metric, label) =>
  cached(`values:${metric}:${label}`, async () =>
    (await api(`/api/v1/label/${encodeURIComponent(label)}/values`, { params: metric ? { "match[]": metric } : null })).data,
  );

let items = [];
let active = 0;
let ctx = null;
let completeSeq = 0;

async function updateCompletion() {
  const pos = exprBox.selectionStart;
  const c = completionContext(exprBox.value, pos);
  const seq = ++completeSeq;
  if (!c.kind) return closeList();
  let cands = [];
  if (c.kind === "metric") {
    if (!c.prefix) return closeList();
    const names = await metricNames();
    cands = [
      ...names.map((n) => ({ text: n, kind: "metric" })),
      ...FUNCTIONS.map((n) => ({ text: n, kind: "function" })),
      ...AGGREGATIONS.map((n) => ({ text: n, kind: "aggregation" })),
      ...KEYWORDS.map((n) => ({ text: n, kind: "keyword" })),
    ];
  } else if (c.kind === "label") {
    cands = (await labelNames(c.metric)).map((n) => ({ text: n, kind: "label" }));
  } else if (c.kind === "value") {
    cands = (await labelValues(c.metric, c.label)).map((n) => ({ text: n, kind: "value" }));
  }
  if (seq !== completeSeq) return;
  const p = c.prefix.toLowerCase();
  const starts = cands.filter((x) => x.text.toLowerCase().startsWith(p));
  const contains = p ? cands.filter((x) => !x.text.toLowerCase().startsWith(p) && x.text.toLowerCase().includes(p)) : [];
  items = [...starts, ...contains].filter((x) => x.text !== c.prefix).slice(0, 50);
  ctx = c;
  active = 0;
  if (!items.length) return closeList();
  renderList();
}

function renderList() {
  list.replaceChildren(
    ...items.map((it, i) =>
      el(
        "li",
        { role: "option", class: i === active ? "active" : "", "aria-selected": i === active ? "true" : "false", "data-i": i },
        el("span", { class: "c-text" }, it.text),
        el("span", { class: "c-kind" }, it.kind),
      ),
    ),
  );
  list.hidden = false;
  const cur = list.children[active];
  if (cur) cur.scrollIntoView({ block: "nearest" });
}

function closeList() {
  list.hidden = true;
  items = [];
  ctx = null;
}

function accept(i) {
  const it = items[i];
  if (!it || !ctx) return;
  const text = exprBox.value;
  const pos = exprBox.selectionStart;
  let insert = it.text;
  let end = pos;
  if (it.kind === "value") {
    const escaped = JSON.stringify(it.text).slice(1, -1);
    if (ctx.quoted) {
      insert = escaped + '"';
      if (text[pos] === '"') end = pos + 1;
    } else insert = `"${escaped}"`;
  } else if (it.kind === "function" || it.kind === "aggregation") insert += "(";
  exprBox.value = text.slice(0, ctx.from) + insert + text.slice(end);
  const caret = ctx.from + insert.length;
  exprBox.setSelectionRange(caret, caret);
  closeList();
  renderHighlight();
  scheduleCheck();
}

list.addEventListener("mousedown", (ev) => {
  const li = ev.target.closest("li");
  if (!li) return;
  ev.preventDefault();
  accept(Number(li.dataset.i));
});

exprBox.addEventListener("keydown", (ev) => {
  const open = !list.hidden && items.length;
  if (open && (ev.key === "ArrowDown" || ev.key === "ArrowUp")) {
    ev.preventDefault();
    active = (active + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    renderList();
  } else if (open && (ev.key === "Tab" || (ev.key === "Enter" && !ev.shiftKey))) {
    ev.preventDefault();
    accept(active);
  } else if (ev.key === "Escape") closeList();
  else if (ev.key === "Enter" && !ev.shiftKey) {
    ev.preventDefault();
    run(true);
  }
});
exprBox.addEventListener("input", () => {
  errorAt = null;
  renderHighlight();
  updateCompletion();
  scheduleCheck();
});
exprBox.addEventListener("click", closeList);
exprBox.addEventListener("blur", () => setTimeout(closeList, 150));
exprBox.addEventListener("scroll", () => {
  hl.parentElement.scrollTop = exprBox.scrollTop;
  hl.parentElement.scrollLeft = exprBox.scrollLeft;
});

// -- running a query -------------------------------------------------------------------------

function num(text) {
  if (text === "+Inf" || text === "-Inf" || text === "NaN") return null;
  const v = parseFloat(text);
  return isFinite(v) ? v : null;
}

function color(i) {
  return `hsl(${(i * 137.508) % 360}, 65%, 45%)`;
}

async function run(push = false) {
  state.expr = exprBox.value;
  saveState(push);
  closeList();
  if (inflight) inflight.abort();
  if (!state.expr.trim()) {
    errorBox.textContent = "";
    return;
  }
  inflight = new AbortController();
  const signal = inflight.signal;
  const [start, end] = timeRange();
  const t0 = performance.now();
  try {
    if (state.tab === "graph") {
      const step = Math.max(1, Math.floor((end - start) / 250));
      const r = await api("/api/v1/query_range", { method: "POST", params: { query: state.expr, start, end, step }, signal });
      exposed.last = { start, end, step, expr: state.expr };
      drawGraph(r.data, start, end, step);
      showWarnings(r.warnings);
    } else {
      const r = await api("/api/v1/query", { method: "POST", params: { query: state.expr, time: end }, signal });
      exposed.last = { time: end, expr: state.expr };
      drawTable(r.data);
      showWarnings(r.warnings);
    }
    stats.textContent += ` · ${Math.round(performance.now() - t0)} ms`;
    clearError();
    markReady();
  } catch (err) {
    if (err.name === "AbortError") return;
    markError(err.message);
  }
}

function showWarnings(ws) {
  warnBox.textContent = ws.length ? "Warning: " + ws.join("; ") : "";
}

function drawGraph(data, start, end, step) {
  if (plot) {
    plot.destroy();
    plot = null;
  }
  graphBox.replaceChildren();
  if (data.resultType !== "matrix") {
    stats.textContent = `result type ${data.resultType}: see the table`;
    return;
  }
  const n = Math.floor((end - start) / step) + 1;
  const xs = new Array(n);
  for (let i = 0; i < n; i++) xs[i] = start + i * step;
  const raw = data.result.map((s) => {
    const ys = new Array(n).fill(null);
    for (const [t, v] of s.values) {
      const i = Math.round((t - start) / step);
      if (i >= 0 && i < n) ys[i] = num(v);
    }
    return ys;
  });
  let shown = raw;
  if (state.stacked) {
    const acc = new Array(n).fill(0);
    shown = raw.map((ys) => ys.map((v, i) => (v === null ? null : (acc[i] += v))));
  }
  const points = data.result.reduce((m, s) => Math.max(m, s.values.length), 0);
  exposed.series = data.result.length;
  exposed.points = points;
  stats.textContent = `${data.result.length} series · step ${step}s`;
  if (!data.result.length) {
    graphBox.append(el("p", { class: "muted empty" }, "No data in this range."));
    return;
  }
  const series = [
    {},
    ...data.result.map((s, i) => ({
      label: seriesName(s.metric),
      stroke: color(i),
      width: 1.5,
      fill: state.stacked ? color(i).replace("hsl", "hsla").replace(")", ", 0.25)") : undefined,
      value: (u, v, si, idx) => {
        const rv = idx === null || idx === undefined ? null : raw[si - 1][idx];
        return rv === null ? "–" : fmt(rv);
      },
      spanGaps: false,
    })),
  ];
  const opts = {
    width: graphBox.clientWidth || 800,
    height: 360,
    series,
    scales: { x: { time: true } },
    axes: [{}, { values: (u, vals) => vals.map(fmt), size: 60 }],
    cursor: { drag: { x: true, y: false, setScale: false }, focus: { prox: 16 } },
    legend: { live: true },
    focus: { alpha: 0.4 },
    hooks: {
      setSelect: [
        (u) => {
          if (u.select.width < 5) return;
          const from = u.posToVal(u.select.left, "x");
          const to = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          zoomTo(from, to);
        },
      ],
    },
  };
  plot = new uPlot(opts, [xs, ...shown], graphBox);
  exposed.plot = plot;
}

function fmt(v) {
  if (v === null || v === undefined) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(2);
  return String(Math.round(v * 1000) / 1000);
}

function zoomTo(from, to) {
  state.range = "abs";
  state.from = Math.floor(from);
  state.to = Math.ceil(to);
  if (state.to <= state.from) state.to = state.from + 1;
  syncControls();
  run(true);
}

function drawTable(data) {
  if (plot) {
    plot.destroy();
    plot = null;
    exposed.plot = null;
  }
  const rows = [];
  if (data.resultType === "vector") {
    for (const s of data.result) rows.push([seriesName(s.metric), s.value[1]]);
  } else if (data.resultType === "matrix") {
    for (const s of data.result) rows.push([seriesName(s.metric), s.values.map(([t, v]) => `${v} @${t}`).join("\n")]);
  } else if (data.resultType === "scalar" || data.resultType === "string") {
    rows.push([data.resultType, String(data.result[1])]);
  }
  exposed.series = rows.length;
  stats.textContent = `${rows.length} result${rows.length === 1 ? "" : "s"}`;
  tableBox.replaceChildren(
    rows.length
      ? el(
          "table",
          { class: "grid results" },
          el("thead", {}, el("tr", {}, el("th", {}, "Series"), el("th", {}, "Value"))),
          el("tbody", {}, rows.map(([a, b]) => el("tr", {}, el("td", { class: "series" }, a), el("td", { class: "value" }, b)))),
        )
      : el("p", { class: "muted empty" }, "Empty result."),
  );
}

// -- controls --------------------------------------------------------------------------------

function toLocalInput(sec) {
  const d = new Date(sec * 1000);
  const pad = (x) => String(x).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function syncControls() {
  $("range").value = state.range;
  const [from, to] = timeRange();
  $("from").value = toLocalInput(from);
  $("to").value = toLocalInput(to);
  document.querySelector(".abs").classList.toggle("dim", state.range !== "abs");
  $("refresh").value = state.refresh;
  $("stacked").checked = state.stacked;
  for (const b of document.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === state.tab));
  graphBox.hidden = state.tab !== "graph";
  tableBox.hidden = state.tab !== "table";
  $("stacked").disabled = state.tab !== "graph";
  setRefresh();
}

function setRefresh() {
  clearInterval(refreshTimer);
  refreshTimer = null;
  if (state.refresh && state.range !== "abs") refreshTimer = setInterval(() => run(false), REFRESH[state.refresh] * 1000);
}

$("range").addEventListener("change", (ev) => {
  const v = ev.target.value;
  if (v === "abs") {
    const [from, to] = timeRange();
    Object.assign(state, { range: "abs", from, to });
  } else Object.assign(state, { range: v, from: null, to: null });
  syncControls();
  run(true);
});
for (const id of ["from", "to"]) {
  $(id).addEventListener("change", () => {
    const from = new Date($("from").value).getTime() / 1000;
    const to = new Date($("to").value).getTime() / 1000;
    if (!isFinite(from) || !isFinite(to) || to <= from) {
      errorBox.textContent = "The range's end must be after its start.";
      return;
    }
    Object.assign(state, { range: "abs", from, to });
    syncControls();
    run(true);
  });
}
$("refresh").addEventListener("change", (ev) => {
  state.refresh = ev.target.value;
  syncControls();
  saveState();
});
$("stacked").addEventListener("change", (ev) => {
  state.stacked = ev.target.checked;
  saveState();
  run(false);
});
for (const b of document.querySelectorAll("[data-tab]")) {
  b.addEventListener("click", () => {
    state.tab = b.dataset.tab;
    syncControls();
    run(false);
  });
}
$("run").addEventListener("click", () => run(true));
window.addEventListener("popstate", () => {
  Object.assign(state, readState(new URLSearchParams(location.search)));
  exprBox.value = state.expr;
  syncControls();
  run(false);
});
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => plot && plot.setSize({ width: graphBox.clientWidth, height: 360 }), 100);
});

exprBox.value = state.expr;
renderHighlight();
syncControls();
saveState();
if (state.expr) run(false);
else markReady(); // nothing to draw until a query is run
exprBox.focus();
