// The Dashboards page: the list (with Grafana import), and one dashboard (?uid=...) drawn as a
// grid of panels with its variables, time range and refresh in the URL; editors change it as
// JSON or through the panel form. State for tests is in window.vigilDashboards.

import { ApiError, api, csrfToken, el, markReady, seriesName, url } from "./api.js";
import { interpolate, renderPanel } from "./panels.js";

const RANGES = { "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200, "1d": 86400, "2d": 172800, "7d": 604800 };
const REFRESH = { "5s": 5, "15s": 15, "30s": 30, "1m": 60, "5m": 300 };
const UNITS = ["short", "none", "percent", "percentunit", "s", "ms", "µs", "ns", "bytes", "decbytes", "bits", "bps", "Bps", "reqps", "ops", "iops", "hertz", "celsius"];
const ALL = "$__all";
const ROW_PX = 30;

const $ = (id) => document.getElementById(id);
const role = (document.querySelector("header .role") || {}).textContent || "";
const canEdit = role === "editor" || role === "admin";
const exposed = { view: null, dashboard: null, provisioned: false, panels: {}, variables: {}, options: {}, renders: 0, ready: false, interpolate };
window.vigilDashboards = exposed;

for (const node of document.querySelectorAll(".editor-only")) node.hidden = !canEdit;

function parseDuration(text) {
  const m = /^(\d+)(ms|s|m|h|d|w|y)$/.exec(text || "");
  if (!m) {
    let total = 0;
    const re = /(\d+)(ms|s|m|h|d|w|y)/g;
    let part;
    while ((part = re.exec(text || ""))) total += Number(part[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }[part[2]];
    return total || null;
  }
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 }[m[2]];
}

// Sends JSON text as is (the server reports JSON errors with their line and column).
async function send(method, path, text) {
  const resp = await fetch(url(path), {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrfToken },
    body: text,
  });
  let body;
  try {
    body = await resp.json();
  } catch {
    throw new ApiError(resp.status, "internal", `${resp.status} ${resp.statusText}`);
  }
  if (body.status !== "success") throw new ApiError(resp.status, body.errorType || "internal", body.error || "error");
  return body.data;
}

// -- the list --------------------------------------------------------------------------------------

async function showList() {
  exposed.view = "list";
  $("list-view").hidden = false;
  const tbody = $("dash-list").querySelector("tbody");
  const r = await api("/api/v1/dashboards");
  const all = r.data;
  const draw = () => {
    const q = $("filter").value.trim().toLowerCase();
    const rows = all.filter((d) => !q || d.title.toLowerCase().includes(q) || d.tags.some((t) => t.toLowerCase().includes(q)));
    tbody.replaceChildren(
      ...rows.map((d) =>
        el(
          "tr",
          {},
          el("td", {}, el("a", { href: url("/dashboards?uid=" + encodeURIComponent(d.uid)) }, d.title)),
          el("td", {}, d.tags.map((t) => el("span", { class: "chip" }, t))),
          el("td", { class: "muted" }, d.provisioned ? "provisioned" : "saved"),
        ),
      ),
    );
    if (!rows.length) tbody.append(el("tr", {}, el("td", { colspan: 3, class: "muted" }, "No dashboards.")));
  };
  $("filter").addEventListener("input", draw);
  draw();
  if (r.warnings.length) $("import-notes").replaceChildren(...r.warnings.map((w) => el("li", {}, w)));
  exposed.list = all;
  exposed.ready = true;
  markReady();
}

$("new").addEventListener("click", async () => {
  try {
    const d = await send("POST", "/api/v1/dashboards", JSON.stringify({ title: "New dashboard", rows: [{ title: "", panels: [] }] }));
    location.assign(url("/dashboards?uid=" + encodeURIComponent(d.dashboard.uid) + "&edit=panels"));
  } catch (err) {
    $("import-msg").textContent = err.message;
  }
});

$("import-file").addEventListener("change", async (ev) => {
  const file = ev.target.files[0];
  if (file) $("import-json").value = await file.text();
});

$("import").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = $("import-msg");
  msg.textContent = "Importing…";
  $("import-notes").replaceChildren();
  try {
    const overwrite = $("import-overwrite").checked ? "?overwrite=true" : "";
    const d = await send("POST", "/api/v1/dashboards/import" + overwrite, $("import-json").value);
    sessionStorage.setItem("vigil-import-notes", JSON.stringify(d.notes || []));
    location.assign(url("/dashboards?uid=" + encodeURIComponent(d.dashboard.uid)));
  } catch (err) {
    msg.textContent = "";
    $("import-notes").replaceChildren(el("li", { class: "error" }, err.message));
  }
});

// -- one dashboard ---------------------------------------------------------------------------------

const params = new URLSearchParams(location.search);
const state = { range: "1h", from: null, to: null, refresh: "" };
let dash = null;
let refreshTimer = null;
let generation = 0;
let controllers = [];
let plots = [];

function readState(q, d) {
  state.range = q.get("range") || d.time || "1h";
  state.from = q.has("from") ? Number(q.get("from")) : null;
  state.to = q.has("to") ? Number(q.get("to")) : null;
  if (state.from !== null && state.to !== null && isFinite(state.from) && isFinite(state.to) && state.to > state.from) state.range = "abs";
  else {
    state.from = state.to = null;
    if (!parseDuration(state.range)) state.range = "1h";
  }
  state.refresh = q.has("refresh") ? q.get("refresh") : d.refresh || "";
}

function saveUrl(push = false) {
  const q = new URLSearchParams();
  q.set("uid", dash.uid);
  if (state.range === "abs") {
    q.set("from", String(Math.round(state.from)));
    q.set("to", String(Math.round(state.to)));
  } else if (state.range !== dash.time) q.set("range", state.range);
  if (state.refresh !== (dash.refresh || "")) q.set("refresh", state.refresh);
  for (const v of dash.variables) for (const x of exposed.variables[v.name] || []) q.append("var-" + v.name, x);
  const here = location.pathname + "?" + q; // the path already has the base path
  if (push) history.pushState(null, "", here);
  else history.replaceState(null, "", here);
}

function timeRange() {
  if (state.range === "abs") return [state.from, state.to];
  const end = Math.floor(Date.now() / 1000);
  return [end - parseDuration(state.range), end];
}

function ensureOption(select, value, label) {
  if (value === "" || [...select.options].some((o) => o.value === value)) return;
  select.append(el("option", { value }, label || value));
}

// Options of a variable: from the server (label_values...) or its list; filtered by its regex.
async function variableOptions(v) {
  let raw = [];
  if (v.type === "custom") raw = v.options || [];
  else {
    const q = v.query.trim();
    const [start, end] = timeRange();
    const values = currentValues(v.name);
    const sub = (text) => interpolate(text, values, dash.variables, {}, allSelected());
    let m;
    if ((m = /^label_values\s*\(\s*(.*)\)\s*$/s.exec(q))) {
      const args = m[1];
      let depth = 0, quote = null, cut = -1;
      for (let i = 0; i < args.length; i++) {
        const c = args[i];
        if (quote) {
          if (c === "\\") i++;
          else if (c === quote) quote = null;
        } else if (c === '"' || c === "'" || c === "`") quote = c;
        else if ("({[".includes(c)) depth++;
        else if (")}]".includes(c)) depth--;
        else if (c === "," && depth === 0) cut = i;
      }
      const label = (cut >= 0 ? args.slice(cut + 1) : args).trim();
      const metric = cut >= 0 ? sub(args.slice(0, cut).trim()) : "";
      const p = { start, end };
      if (metric) p["match[]"] = metric;
      raw = (await api(`/api/v1/label/${encodeURIComponent(label)}/values`, { params: p })).data;
    } else if (/^label_names\s*\(\s*\)$/.test(q)) {
      raw = (await api("/api/v1/labels", { params: { start, end } })).data;
    } else if ((m = /^metrics\s*\((.*)\)\s*$/s.exec(q))) {
      const re = new RegExp(m[1].trim() || ".*");
      raw = (await api("/api/v1/label/__name__/values", { params: { start, end } })).data.filter((n) => re.test(n));
    } else if ((m = /^query_result\s*\((.*)\)\s*$/s.exec(q))) {
      const r = await api("/api/v1/query", { method: "POST", params: { query: sub(m[1]), time: end } });
      const rows = r.data.resultType === "vector" ? r.data.result : [];
      raw = rows.map((s) => `${seriesName(s.metric)} ${s.value[1]} ${Math.round(s.value[0] * 1000)}`);
    }
  }
  if (!v.regex) return [...new Set(raw)];
  const rm = /^\/(.*)\/([gimsuy]*)$/s.exec(v.regex);
  const re = rm ? new RegExp(rm[1], rm[2].replace("g", "")) : new RegExp(v.regex);
  const out = [];
  for (const x of raw) {
    const hit = re.exec(x);
    if (!hit) continue;
    const val = (hit.groups && (hit.groups.value || hit.groups.text)) || (hit.length > 1 ? hit[1] : x);
    if (val !== undefined && !out.includes(val)) out.push(val);
  }
  return out;
}

function allSelected() {
  return dash.variables.filter((v) => (exposed.selected[v.name] || []).includes(ALL)).map((v) => v.name);
}

// The values each variable stands for now ("All": every option).
function currentValues(upTo = null) {
  const out = {};
  for (const v of dash.variables) {
    if (v.name === upTo) break;
    const sel = exposed.selected[v.name] || [];
    out[v.name] = sel.includes(ALL) ? exposed.options[v.name] || [] : sel;
  }
  return out;
}

async function loadVariables(fromIndex = 0) {
  const box = $("vars");
  for (let i = fromIndex; i < dash.variables.length; i++) {
    const v = dash.variables[i];
    let options = [];
    try {
      options = await variableOptions(v);
    } catch (err) {
      options = [];
      $("dash-msg").textContent = `variable ${v.name}: ${err.message}`;
    }
    exposed.options[v.name] = options;
    const fromUrl = params.getAll("var-" + v.name);
    let sel = exposed.selected[v.name] || (fromUrl.length ? fromUrl : v.default && v.default.length ? v.default : null);
    if (sel) sel = sel.filter((x) => (x === ALL && v.includeAll) || options.includes(x) || v.type === "custom" || x === "");
    if (!sel || !sel.length) sel = v.includeAll ? [ALL] : options.length ? [options[0]] : [];
    if (!v.multi && sel.length > 1) sel = [sel[0]];
    exposed.selected[v.name] = sel;
  }
  exposed.variables = {};
  for (const v of dash.variables) exposed.variables[v.name] = exposed.selected[v.name];
  box.replaceChildren(
    ...dash.variables
      .filter((v) => !v.hide)
      .map((v, i) => {
        const sel = exposed.selected[v.name];
        const opts = [...(v.includeAll ? [[ALL, "All"]] : []), ...exposed.options[v.name].map((o) => [o, o])];
        const select = el(
          "select",
          { "data-var": v.name, multiple: v.multi || null, size: v.multi ? String(Math.min(4, Math.max(2, opts.length))) : null },
          opts.map(([value, label]) => {
            const o = el("option", { value }, label);
            o.selected = sel.includes(value);
            return o;
          }),
        );
        select.addEventListener("change", async () => {
          let chosen = [...select.selectedOptions].map((o) => o.value);
          if (chosen.includes(ALL) && chosen.length > 1) chosen = sel.includes(ALL) ? chosen.filter((x) => x !== ALL) : [ALL];
          exposed.selected[v.name] = chosen;
          const idx = dash.variables.indexOf(v);
          for (const later of dash.variables.slice(idx + 1)) if (later.type === "query" && later.query.includes(v.name)) delete exposed.selected[later.name];
          await loadVariables(idx + 1);
          saveUrl(true);
          drawPanels();
        });
        return el("label", {}, v.label || v.name, " ", select);
      }),
  );
}

function layout() {
  for (const p of plots) p.destroy();
  plots = [];
  const grid = $("grid");
  const rows = dash.rows.map((row, ri) => {
    const panels = el("div", { class: "panels" });
    for (const p of row.panels) {
      const body = el("div", { class: "body" });
      const status = el("span", { class: "status" });
      const node = el(
        "div",
        { class: "panel", "data-panel": p.id, "data-type": p.type },
        el("header", {}, el("span", { class: "title", title: p.description || p.title }, p.title || "\u00a0"), status),
        body,
      );
      node.style.gridColumn = `span ${Math.min(24, Math.max(1, p.width || 12))}`;
      node.style.height = `${(p.height || 8) * ROW_PX}px`;
      panels.append(node);
    }
    const section = el("section", { class: "dash-row" + (row.collapsed ? " collapsed" : ""), "data-row": ri });
    if (row.title) {
      const h = el("h2", {}, row.title);
      h.addEventListener("click", () => {
        section.classList.toggle("collapsed");
        if (!section.classList.contains("collapsed")) drawPanels();
      });
      section.append(h);
    }
    section.append(panels);
    return section;
  });
  grid.replaceChildren(...rows);
}

function drawPanels() {
  const gen = ++generation;
  for (const c of controllers) c.abort();
  controllers = [];
  for (const p of plots) p.destroy();
  plots = [];
  const [start, end] = timeRange();
  const values = currentValues();
  const alls = allSelected();
  const jobs = [];
  for (const node of document.querySelectorAll("#grid .panel")) {
    if (node.closest(".dash-row.collapsed")) continue;
    const panel = dash.panels_by_id[node.dataset.panel];
    const body = node.querySelector(".body");
    const status = node.querySelector(".status");
    const width = body.clientWidth || 600;
    const step = Math.max(1, Math.floor((end - start) / Math.max(60, Math.min(500, Math.floor(width / 2)))));
    const ctl = new AbortController();
    controllers.push(ctl);
    const info = { state: "loading", series: 0, points: 0, type: panel.type, title: panel.title };
    exposed.panels[panel.id] = info;
    status.textContent = "…";
    const ctx = {
      start,
      end,
      step,
      signal: ctl.signal,
      interpolate: (expr, builtins) => interpolate(expr, values, dash.variables, builtins, alls),
      zoom: (from, to) => {
        Object.assign(state, { range: "abs", from: Math.floor(from), to: Math.ceil(to) });
        syncControls();
        saveUrl(true);
        drawPanels();
      },
    };
    jobs.push(
      renderPanel(panel, body, ctx).then(
        (r) => {
          if (gen !== generation) return;
          if (r.plot) plots.push(r.plot);
          Object.assign(info, { state: panel.type === "unsupported" ? "unsupported" : "ok", series: r.series, points: r.points, asked: r.asked, start, end, step });
          status.textContent = "";
        },
        (err) => {
          if (gen !== generation || err.name === "AbortError") return;
          Object.assign(info, { state: "error", error: err.message });
          status.textContent = "error";
          body.replaceChildren(el("div", { class: "perr", role: "alert" }, err.message));
        },
      ),
    );
  }
  Promise.all(jobs).then(() => {
    if (gen !== generation) return;
    exposed.renders++;
    exposed.ready = true;
    markReady();
  });
}

function syncControls() {
  const range = $("range");
  if (state.range !== "abs") ensureOption(range, state.range);
  range.value = state.range;
  ensureOption($("refresh"), state.refresh);
  $("refresh").value = state.refresh;
  clearInterval(refreshTimer);
  refreshTimer = null;
  const every = parseDuration(state.refresh);
  if (every && state.range !== "abs") refreshTimer = setInterval(drawPanels, Math.max(5, every) * 1000);
}

function adopt(entry) {
  dash = entry.dashboard;
  dash.panels_by_id = {};
  for (const row of dash.rows) for (const p of row.panels) dash.panels_by_id[p.id] = p;
  exposed.dashboard = entry.dashboard;
  exposed.provisioned = entry.provisioned;
  $("dash-title").textContent = dash.title;
  document.title = `${dash.title} · Vigil`;
  $("dash-badge").textContent = entry.provisioned ? "provisioned (read-only)" : "";
  $("dash-badge").hidden = !entry.provisioned;
  for (const id of ["edit-json", "edit-panels", "delete"]) $(id).hidden = !canEdit || entry.provisioned;
}

function cleanJson() {
  const copy = JSON.parse(JSON.stringify(dash));
  delete copy.panels_by_id;
  return copy;
}

async function showDashboard(uid) {
  exposed.view = "dashboard";
  exposed.selected = {};
  $("dash-view").hidden = false;
  let entry;
  try {
    entry = (await api("/api/v1/dashboards/" + encodeURIComponent(uid))).data;
  } catch (err) {
    $("dash-title").textContent = "Dashboard";
    $("grid").replaceChildren(el("p", { class: "error", role: "alert" }, err.message));
    exposed.ready = true;
    return;
  }
  adopt(entry);
  readState(params, dash);
  const notes = JSON.parse(sessionStorage.getItem("vigil-import-notes") || "null");
  sessionStorage.removeItem("vigil-import-notes");
  if (notes) {
    $("dash-msg").replaceChildren(
      notes.length ? el("ul", { class: "notes" }, notes.map((n) => el("li", {}, n))) : "Imported.",
    );
    exposed.notes = notes;
  }
  syncControls();
  await loadVariables();
  saveUrl();
  layout();
  drawPanels();
  if (params.get("edit") === "panels" && canEdit && !entry.provisioned) openPanelEditor();
}

$("range").addEventListener("change", (ev) => {
  const v = ev.target.value;
  if (v === "abs") {
    const [from, to] = timeRange();
    Object.assign(state, { range: "abs", from, to });
  } else Object.assign(state, { range: v, from: null, to: null });
  syncControls();
  saveUrl(true);
  drawPanels();
});
$("refresh").addEventListener("change", (ev) => {
  state.refresh = ev.target.value;
  syncControls();
  saveUrl();
});
$("reload").addEventListener("click", () => drawPanels());
window.addEventListener("popstate", () => location.reload());
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => dash && drawPanels(), 200);
});

$("export").addEventListener("click", () => {
  location.assign(url(`/api/v1/dashboards/${encodeURIComponent(dash.uid)}/export?download=1`));
});

$("save-copy").addEventListener("click", async () => {
  const copy = cleanJson();
  delete copy.uid;
  copy.title = `${dash.title} (copy)`;
  try {
    const d = await send("POST", "/api/v1/dashboards", JSON.stringify(copy));
    location.assign(url("/dashboards?uid=" + encodeURIComponent(d.dashboard.uid)));
  } catch (err) {
    $("dash-msg").textContent = err.message;
  }
});

let deleteArmed = false;
$("delete").addEventListener("click", async () => {
  if (!deleteArmed) {
    deleteArmed = true;
    $("delete").textContent = "Really delete?";
    setTimeout(() => {
      deleteArmed = false;
      $("delete").textContent = "Delete";
    }, 4000);
    return;
  }
  try {
    await send("DELETE", "/api/v1/dashboards/" + encodeURIComponent(dash.uid), "");
    location.assign(url("/dashboards"));
  } catch (err) {
    $("dash-msg").textContent = err.message;
  }
});

async function save(text, errorsBox) {
  errorsBox.textContent = "";
  try {
    const entry = await send("PUT", "/api/v1/dashboards/" + encodeURIComponent(dash.uid), text);
    adopt(entry);
    exposed.selected = {};
    await loadVariables();
    saveUrl();
    layout();
    drawPanels();
    $("dash-msg").textContent = "Saved.";
    return true;
  } catch (err) {
    errorsBox.textContent = err.message;
    exposed.saveError = err.message;
    return false;
  }
}

// -- JSON editor --

$("edit-json").addEventListener("click", () => {
  $("panel-editor").hidden = true;
  $("json-text").value = JSON.stringify(cleanJson(), null, 2);
  $("json-errors").textContent = "";
  $("json-editor").hidden = false;
});
$("json-cancel").addEventListener("click", () => ($("json-editor").hidden = true));
$("json-save").addEventListener("click", async () => {
  if (await save($("json-text").value, $("json-errors"))) $("json-editor").hidden = true;
});

// -- panel editor: add, remove and reorder panels on a working copy --

let work = null;

function openPanelEditor() {
  $("json-editor").hidden = true;
  work = cleanJson();
  if (!work.rows.length) work.rows.push({ title: "", collapsed: false, panels: [] });
  $("panel-errors").textContent = "";
  $("panel-editor").hidden = false;
  drawPanelList();
}

function drawPanelList() {
  const flat = [];
  work.rows.forEach((row, ri) => row.panels.forEach((p, pi) => flat.push({ row, ri, p, pi })));
  const move = (ri, pi, delta) => {
    const list = work.rows[ri].panels;
    const j = pi + delta;
    if (j >= 0 && j < list.length) {
      [list[pi], list[j]] = [list[j], list[pi]];
    } else if (j < 0 && ri > 0) {
      work.rows[ri - 1].panels.push(list.splice(pi, 1)[0]);
    } else if (j >= list.length && ri < work.rows.length - 1) {
      work.rows[ri + 1].panels.unshift(list.splice(pi, 1)[0]);
    }
    drawPanelList();
  };
  $("panel-list").querySelector("tbody").replaceChildren(
    ...flat.map(({ row, ri, p, pi }) =>
      el(
        "tr",
        { "data-panel": p.id },
        el("td", { class: "muted" }, row.title || `row ${ri + 1}`),
        el("td", {}, p.title || `panel ${p.id}`),
        el("td", {}, p.type),
        el(
          "td",
          {},
          el("button", { type: "button", class: "small", title: "Move up", "data-act": "up", onclick: () => move(ri, pi, -1) }, "↑"),
          el("button", { type: "button", class: "small", title: "Move down", "data-act": "down", onclick: () => move(ri, pi, 1) }, "↓"),
          el(
            "button",
            {
              type: "button",
              class: "small danger",
              title: "Remove",
              "data-act": "remove",
              onclick: () => {
                work.rows[ri].panels.splice(pi, 1);
                drawPanelList();
              },
            },
            "✕",
          ),
        ),
      ),
    ),
  );
  const rowSelect = $("add-panel").elements.row;
  rowSelect.replaceChildren(
    ...work.rows.map((r, i) => el("option", { value: i }, r.title || `row ${i + 1}`)),
    el("option", { value: "new" }, "a new row"),
  );
}

$("units").replaceChildren(...UNITS.map((u) => el("option", { value: u })));
$("edit-panels").addEventListener("click", openPanelEditor);
$("panels-cancel").addEventListener("click", () => ($("panel-editor").hidden = true));
$("add-panel").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const ids = work.rows.flatMap((r) => r.panels.map((p) => p.id));
  const panel = {
    id: Math.max(0, ...ids) + 1,
    type: f.type.value,
    title: f.title.value.trim(),
    width: Number(f.width.value) || 12,
    height: f.type.value === "timeseries" || f.type.value === "table" ? 8 : 5,
    targets: [{ expr: f.expr.value, legendFormat: f.legend.value, refId: "A" }],
    unit: f.unit.value.trim() || "short",
  };
  if (f.row.value === "new") work.rows.push({ title: "New row", collapsed: false, panels: [panel] });
  else work.rows[Number(f.row.value)].panels.push(panel);
  ev.target.reset();
  drawPanelList();
});
$("panels-save").addEventListener("click", async () => {
  if (await save(JSON.stringify(work), $("panel-errors"))) $("panel-editor").hidden = true;
});

// -- start --

const uid = params.get("uid");
(uid ? showDashboard(uid) : showList()).catch((err) => {
  $("main").append(el("p", { class: "error", role: "alert" }, err.message));
  exposed.ready = true;
});
