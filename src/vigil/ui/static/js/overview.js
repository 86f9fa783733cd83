// Overview: services with health colour, request/error rate and p95 latency with sparklines,
// firing alerts, failing health checks, targets down and the host; refreshed every 15 s.

import { api, el, markReady, url } from "./api.js";
import { exploreUrl, fmtBytes, fmtPercent, fmtRate, fmtSeconds, rawApi, sparkline } from "./sparkline.js";

const REFRESH_MS = 15000;
const RANGE_S = 3600;
const STEP_S = 60;

const Q = {
  rate: "sum by (job) (rate(http_requests_total[5m]))",
  errors:
    'sum by (job) (rate(http_requests_total{status=~"5.."}[5m])) / sum by (job) (rate(http_requests_total[5m]))',
  p95: "histogram_quantile(0.95, sum by (job, le) (rate(http_request_duration_seconds_bucket[5m])))",
  checks: "vigil_health_check_status < 1",
  down: "up == 0",
};

// Host tiles: the node exporter's view when it is scraped, else vigil's own process metrics.
const HOST = [
  {
    name: "CPU",
    node: '1 - avg(rate(node_cpu_seconds_total{mode="idle"}[5m]))',
    nodeFmt: fmtPercent,
    proc: "sum(rate(process_cpu_seconds_total[5m]))",
    procName: "CPU (processes)",
    procFmt: (v) => `${v.toFixed(2)} cores`,
  },
  {
    name: "Memory",
    node: "1 - sum(node_memory_MemAvailable_bytes) / sum(node_memory_MemTotal_bytes)",
    nodeFmt: fmtPercent,
    proc: "sum(process_resident_memory_bytes)",
    procName: "Memory (processes, resident)",
    procFmt: fmtBytes,
  },
  {
    name: "Disk",
    node: 'max(1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs"})',
    nodeFmt: fmtPercent,
    proc: "sum(vigil_tsdb_bytes_on_disk)",
    procName: "Disk (vigil's storage)",
    procFmt: fmtBytes,
  },
];

const state = { loads: 0, services: [], alerts: [], checks: [], down: [], host: [], errors: [] };
window.vigilOverview = state;

async function range(expr) {
  const end = Math.floor(Date.now() / 1000);
  const { data } = await api("/api/v1/query_range", {
    method: "POST",
    params: { query: expr, start: end - RANGE_S, end, step: STEP_S },
  });
  return data.result;
}

async function instant(expr) {
  const { data } = await api("/api/v1/query", { method: "POST", params: { query: expr } });
  return data.result;
}

const lastValue = (values) => (values.length ? Number(values[values.length - 1][1]) : NaN);

function byJob(result) {
  const m = new Map();
  for (const s of result) m.set(s.metric.job || "", s.values);
  return m;
}

// Firing alerts: the notifier's active ones (not silenced or inhibited); the rules' if it is absent.
async function firingAlerts() {
  try {
    const alerts = await rawApi("/api/v2/alerts?silenced=false&inhibited=false");
    return alerts
      .filter((a) => a.status.state === "active")
      .map((a) => ({ labels: a.labels, since: a.startsAt, fingerprint: a.fingerprint }));
  } catch (err) {
    if (err.status !== 404) throw err;
    const { data } = await api("/api/v1/alerts");
    return data.alerts.filter((a) => a.state === "firing").map((a) => ({ labels: a.labels, since: a.activeAt }));
  }
}

function setCount(id, n, bad) {
  const node = document.getElementById(id);
  node.textContent = String(n);
  node.classList.toggle("bad", bad && n > 0);
  node.classList.toggle("good", n === 0);
}

function list(id, items, more) {
  const ul = document.getElementById(id);
  const shown = items.slice(0, 8).map(([text, href, cls]) => el("li", { class: cls }, el("a", { href }, text)));
  if (items.length > 8) shown.push(el("li", { class: "muted" }, el("a", { href: more }, `and ${items.length - 8} more`)));
  ul.replaceChildren(...shown);
}

function dot(status) {
  const words = { ok: "healthy", warn: "degraded", bad: "unhealthy", none: "unknown" };
  return el("span", { class: `dot ${status}`, title: words[status], role: "img", "aria-label": words[status] });
}

function metricCell(values, fmt, expr) {
  if (!values) return el("td", { class: "muted" }, "–");
  return el(
    "td",
    { class: "metric" },
    el("a", { href: exploreUrl(expr), title: expr }, el("span", { class: "val" }, fmt(lastValue(values))), sparkline(values)),
  );
}

function renderServices(targets, rate, errors, p95, alerts, checks) {
  const jobs = new Map();
  for (const t of targets) {
    const job = t.labels.job || t.scrapePool;
    if (!jobs.has(job)) jobs.set(job, { job, up: 0, total: 0 });
    const j = jobs.get(job);
    j.total++;
    if (t.health === "up") j.up++;
  }
  for (const job of rate.keys()) if (!jobs.has(job)) jobs.set(job, { job, up: 0, total: 0 });
  const services = [...jobs.values()].sort((a, b) => a.job.localeCompare(b.job));
  const tbody = document.querySelector("#ov-services tbody");
  state.services = services.map((s) => {
    const jobAlerts = alerts.filter((a) => a.labels.job === s.job);
    const jobChecks = checks.filter((c) => c.metric.job === s.job);
    const err = errors.get(s.job);
    let status = s.total === 0 ? "none" : "ok";
    if (jobAlerts.length || jobChecks.some((c) => Number(c.value[1]) > 0) || (err && lastValue(err) > 0.05)) status = "warn";
    if (s.up < s.total || jobAlerts.some((a) => a.labels.severity === "critical") || jobChecks.some((c) => Number(c.value[1]) === 0))
      status = "bad";
    return { ...s, status, rate: rate.has(s.job) ? lastValue(rate.get(s.job)) : null, http: rate.has(s.job) };
  });
  if (!services.length) {
    tbody.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "muted empty" }, "No scrape targets yet.")));
    return;
  }
  tbody.replaceChildren(
    ...state.services.map((s) => {
      const sel = `{job=${JSON.stringify(s.job)}}`;
      const cells = [
        el("td", { class: "svc" }, dot(s.status), " ", el("a", { href: exploreUrl(`up${sel}`) }, s.job)),
        el(
          "td",
          {},
          el("a", { href: url(`/targets?q=${encodeURIComponent(s.job)}`), class: s.up < s.total ? "bad" : "" }, `${s.up}/${s.total} up`),
        ),
      ];
      if (!s.http) {
        cells.push(el("td", { colspan: 3, class: "muted nohttp" }, "no HTTP metrics"));
      } else {
        cells.push(
          metricCell(rate.get(s.job), fmtRate, `sum(rate(http_requests_total${sel}[5m]))`),
          metricCell(
            errors.get(s.job),
            fmtPercent,
            `sum(rate(http_requests_total{job=${JSON.stringify(s.job)}, status=~"5.."}[5m])) / sum(rate(http_requests_total${sel}[5m]))`,
          ),
          metricCell(
            p95.get(s.job),
            fmtSeconds,
            `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket${sel}[5m])))`,
          ),
        );
      }
      return el("tr", { "data-job": s.job }, cells);
    }),
  );
}

async function hostTile(h) {
  let result = await range(h.node);
  let expr = h.node;
  let fmt = h.nodeFmt;
  let name = h.name;
  if (!result.length) {
    result = await range(h.proc);
    expr = h.proc;
    fmt = h.procFmt;
    name = h.procName;
  }
  const values = result.length ? result[0].values : [];
  return { name, expr, fmt, values };
}

function renderHost(tiles) {
  state.host = tiles.map((t) => ({ name: t.name, expr: t.expr, value: lastValue(t.values) }));
  document.getElementById("ov-host").replaceChildren(
    ...tiles.map((t) =>
      el(
        "div",
        { class: "card ov-tile" },
        el("h3", {}, el("a", { href: exploreUrl(t.expr), title: t.expr }, t.name)),
        el(
          "a",
          { class: "ov-count", href: exploreUrl(t.expr) },
          t.values.length ? t.fmt(lastValue(t.values)) : "no data",
        ),
        t.values.length ? el("a", { href: exploreUrl(t.expr), class: "ov-spark" }, sparkline(t.values, { width: 240, height: 40 })) : null,
      ),
    ),
  );
}

async function load() {
  const errorBox = document.getElementById("ov-error");
  try {
    const [targets, rate, errors, p95, alerts, checks, upZero, host] = await Promise.all([
      api("/api/v1/targets", { params: { state: "active" } }).then((r) => r.data.activeTargets || []),
      range(Q.rate).then(byJob),
      range(Q.errors).then(byJob),
      range(Q.p95).then(byJob),
      firingAlerts(),
      instant(Q.checks),
      instant(Q.down),
      Promise.all(HOST.map(hostTile)),
    ]);
    state.alerts = alerts;
    setCount("ov-alerts-count", alerts.length, true);
    list(
      "ov-alerts-list",
      alerts.map((a) => [
        `${a.labels.alertname || "alert"}${a.labels.job ? ` (${a.labels.job})` : ""}`,
        url(`/alerts?q=${encodeURIComponent(a.labels.alertname || "")}`),
        `sev-${a.labels.severity || "none"}`,
      ]),
      url("/alerts"),
    );
    state.checks = checks.map((c) => ({ ...c.metric, value: Number(c.value[1]) }));
    setCount("ov-checks-count", checks.length, true);
    list(
      "ov-checks-list",
      checks.map((c) => [
        `${c.metric.check || "?"} on ${c.metric.instance || c.metric.job || "?"} (${Number(c.value[1]) === 0 ? "fail" : "warn"})`,
        url(`/health?job=${encodeURIComponent(c.metric.job || "")}`),
        Number(c.value[1]) === 0 ? "bad" : "warn",
      ]),
      url("/health"),
    );
    // Down: the scrape manager's view (/api/v1/targets), and any other `up == 0` series in the store.
    const downKeys = new Set();
    const downList = [];
    for (const m of [
      ...targets.filter((t) => t.health === "down").map((t) => ({ job: t.labels.job || t.scrapePool, instance: t.labels.instance })),
      ...upZero.map((d) => d.metric),
    ]) {
      const key = `${m.job}\u0000${m.instance}`;
      if (downKeys.has(key)) continue;
      downKeys.add(key);
      downList.push(m);
    }
    const down = downList.map((metric) => ({ metric }));
    state.down = downList;
    setCount("ov-down-count", down.length, true);
    list(
      "ov-down-list",
      down.map((d) => [`${d.metric.instance || "?"} (${d.metric.job || "?"})`, url(`/targets?state=down&q=${encodeURIComponent(d.metric.instance || "")}`), "bad"]),
      url("/targets?state=down"),
    );
    renderServices(targets, rate, errors, p95, alerts, checks);
    renderHost(host);
    errorBox.textContent = "";
    document.getElementById("ov-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    state.loads++;
    markReady();
  } catch (err) {
    state.errors.push(String(err.message || err));
    errorBox.textContent = `Could not load the overview: ${err.message || err}`;
  }
}

load();
setInterval(() => {
  if (!document.hidden) load();
}, REFRESH_MS);
