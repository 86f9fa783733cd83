// Health: every check of every target (from each target's /health, or its scraped
// vigil_health_check_* samples), "run now" for admins, and a status page (?view=status).

import { ago, api, el, markReady, url } from "./api.js";
import { roleAtLeast } from "./sparkline.js";

const REFRESH_MS = 15000;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const statusView = params.get("view") === "status";
const onlyJob = params.get("job") || "";
const isAdmin = roleAtLeast("admin");
const RANK = { pass: 0, unknown: 1, warn: 2, fail: 3 };
const WORDS = { pass: "operational", warn: "degraded", fail: "down", unknown: "unknown" };

const state = { loads: 0, data: null, runs: [] };
window.vigilHealth = state;

const worst = (statuses) => statuses.reduce((w, s) => (RANK[s] > RANK[w] ? s : w), "pass");

function badge(status) {
  return el("span", { class: `hstate ${status}` }, status);
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

function lastRun(check) {
  const d = new Date(check.time);
  return Number.isFinite(d.getTime()) ? el("span", { title: d.toLocaleString() }, ago(d)) : "–";
}

async function runNow(target, check, button) {
  button.disabled = true;
  const row = button.closest("tr");
  try {
    const path = ["job", "instance", "check"].map((k) => encodeURIComponent(k === "check" ? check.name : target[k])).join("/");
    const { data } = await api(`/api/vigil/v1/health/${path}/run`, { method: "POST" });
    state.runs.push({ ok: true, check: check.name, data });
    const fresh = data.checks.find((c) => c.name === check.name);
    if (fresh) {
      const i = target.checks.indexOf(check);
      if (i >= 0) target.checks[i] = fresh;
      row.replaceWith(checkRow(target, fresh, true));
    }
  } catch (err) {
    state.runs.push({ ok: false, check: check.name, status: err.status, error: err.message });
    row.querySelector(".run-msg").textContent = err.message;
    button.disabled = false;
  }
}

function runButton(target, check) {
  const enabled = isAdmin && state.data.runEnabled && target.source === "endpoint";
  const why = !state.data.runEnabled
    ? "Running checks is disabled: no health_admin_token is configured"
    : !isAdmin
      ? "Running checks needs the admin role"
      : target.source !== "endpoint"
        ? "The target's /health endpoint is not reachable"
        : "Run this check now";
  const b = el("button", { type: "button", class: "small run", disabled: !enabled, title: why }, "Run now");
  b.addEventListener("click", () => runNow(target, check, b));
  return b;
}

function checkRow(target, c, fresh = false) {
  return el(
    "tr",
    { class: `check st-${c.status}${fresh ? " fresh" : ""}`, "data-check": c.name, "data-instance": target.instance },
    el("td", {}, badge(c.status)),
    el(
      "td",
      {},
      el("strong", {}, c.name),
      c.critical === false ? el("span", { class: "muted" }, " (non-critical)") : null,
      c.componentType ? el("div", { class: "muted" }, c.componentType) : null,
    ),
    el(
      "td",
      { class: "output" },
      c.output,
      c.observedValue !== null && c.observedValue !== undefined && c.observedValue !== ""
        ? el("div", { class: "muted" }, `${c.measurement || "value"}: ${c.observedValue}${c.observedUnit ? ` ${c.observedUnit}` : ""}`)
        : null,
      c.details && Object.keys(c.details).length
        ? el("div", { class: "muted details" }, Object.entries(c.details).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · "))
        : null,
    ),
    el("td", { class: "num" }, fmtMs(c.durationMs)),
    el("td", {}, lastRun(c)),
    el("td", {}, runButton(target, c), el("div", { class: "run-msg error" })),
  );
}

function renderDetails(targets) {
  const showAll = $("hp-all").checked;
  const shown = targets.filter((t) => showAll || t.checks.length);
  const hidden = targets.length - shown.length;
  const checks = targets.flatMap((t) => t.checks);
  const n = (s) => checks.filter((c) => c.status === s).length;
  $("hp-summary").replaceChildren(
    el("span", { class: "hcount pass" }, `${n("pass")} passing`),
    el("span", { class: "hcount warn" }, `${n("warn")} warning`),
    el("span", { class: "hcount fail" }, `${n("fail")} failing`),
    ...(hidden ? [el("span", { class: "muted" }, `${hidden} target(s) without health checks hidden`)] : []),
  );
  const notes = [];
  if (!state.data.runEnabled) notes.push("Running checks now is disabled: the server has no health_admin_token.");
  else if (!isAdmin) notes.push("Running checks now needs the admin role.");
  $("hp-note").textContent = notes.join(" ");
  if (!shown.length) {
    $("hp-targets").replaceChildren(el("p", { class: "muted empty" }, targets.length ? "No target has health checks." : "No scrape targets."));
    return;
  }
  $("hp-targets").replaceChildren(
    ...shown.map((t) =>
      el(
        "section",
        { class: "card htarget", "data-job": t.job, "data-instance": t.instance },
        el(
          "h2",
          {},
          badge(t.status),
          " ",
          t.job,
          " ",
          el("span", { class: "muted" }, t.instance),
          t.serviceId ? el("span", { class: "muted" }, ` · ${t.serviceId}`) : null,
        ),
        el(
          "p",
          { class: "muted source" },
          t.source === "endpoint"
            ? `From ${t.url}`
            : t.source === "metrics"
              ? `From scraped vigil_health_check_* samples (${t.error || "no health document"})`
              : t.error || "No health checks.",
          t.scrapeHealth === "down" ? el("span", { class: "bad" }, " · target down") : null,
        ),
        t.output ? el("p", { class: "output" }, t.output) : null,
        t.checks.length
          ? el(
              "table",
              { class: "grid checks" },
              el("thead", {}, el("tr", {}, ["Status", "Check", "Message", "Duration", "Last run", ""].map((h) => el("th", {}, h)))),
              el("tbody", {}, t.checks.map((c) => checkRow(t, c))),
            )
          : null,
      ),
    ),
  );
}

// The status page: one line per service (job), its checks merged over its instances.
function renderStatus(targets) {
  const jobs = new Map();
  for (const t of targets) {
    if (!jobs.has(t.job)) jobs.set(t.job, { job: t.job, statuses: [], checks: new Map() });
    const j = jobs.get(t.job);
    j.statuses.push(t.source === "none" ? (t.scrapeHealth === "down" ? "fail" : "unknown") : t.status);
    for (const c of t.checks) j.checks.set(c.name, worst([j.checks.get(c.name) || "pass", c.status]));
  }
  const services = [...jobs.values()]
    .map((j) => ({ ...j, status: worst(j.statuses) }))
    .sort((a, b) => a.job.localeCompare(b.job));
  const overall = services.length ? worst(services.map((s) => s.status)) : "unknown";
  const headline = {
    pass: "All systems operational",
    warn: "Some systems are degraded",
    fail: "Some systems are down",
    unknown: "Status unknown",
  }[overall];
  $("hp-summary").replaceChildren(el("div", { class: `banner ${overall}` }, headline));
  $("hp-targets").replaceChildren(
    el(
      "ul",
      { class: "status-list" },
      services.map((s) =>
        el(
          "li",
          { class: `svc ${s.status}`, "data-job": s.job },
          el("div", { class: "svc-head" }, el("span", { class: "svc-name" }, s.job), el("span", { class: `svc-state ${s.status}` }, WORDS[s.status])),
          s.checks.size
            ? el(
                "div",
                { class: "svc-checks" },
                [...s.checks.entries()].map(([name, st]) => el("span", { class: `svc-check ${st}`, title: `${name}: ${WORDS[st]}` }, name)),
              )
            : null,
        ),
      ),
    ),
  );
}

async function load() {
  try {
    const { data } = await api("/api/vigil/v1/health", { params: onlyJob ? { job: onlyJob } : null });
    state.data = data;
    if (statusView) renderStatus(data.targets);
    else renderDetails(data.targets);
    $("hp-error").textContent = "";
    $("hp-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    state.loads++;
    markReady();
  } catch (err) {
    $("hp-error").textContent = `Could not load the health checks: ${err.message}`;
  }
}

if (statusView) {
  document.body.classList.add("status-view");
  $("hp-title").textContent = "Service status";
  document.title = "Service status · Vigil";
  $("hp-view").textContent = "Details";
  $("hp-view").href = url("/health");
} else if (onlyJob) {
  $("hp-title").textContent = `Health: ${onlyJob}`;
}
$("hp-all").addEventListener("change", () => state.data && renderDetails(state.data.targets));
load();
setInterval(() => {
  if (!document.hidden) load();
}, REFRESH_MS);
