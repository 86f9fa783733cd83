// Targets: every scrape target by pool, with its state, last scrape, duration and error.

import { ago, api, el, markReady, showError } from "./api.js";

const pools = document.getElementById("pools");
const stateSel = document.getElementById("state");
const filter = document.getElementById("filter");
const summary = document.getElementById("summary");
const q = new URLSearchParams(location.search);
stateSel.value = q.get("state") || "";
filter.value = q.get("q") || "";
let targets = [];

function labelChips(labels) {
  return Object.entries(labels).map(([k, v]) => el("span", { class: "chip" }, `${k}="${v}"`));
}

function render() {
  const want = stateSel.value;
  const text = filter.value.toLowerCase();
  const shown = targets.filter(
    (t) =>
      (!want || t.health === want) &&
      (!text || t.scrapeUrl.toLowerCase().includes(text) || JSON.stringify(t.labels).toLowerCase().includes(text)),
  );
  const byPool = new Map();
  for (const t of shown) {
    if (!byPool.has(t.scrapePool)) byPool.set(t.scrapePool, []);
    byPool.get(t.scrapePool).push(t);
  }
  const up = targets.filter((t) => t.health === "up").length;
  summary.textContent = `${up} of ${targets.length} up`;
  if (!byPool.size) {
    pools.replaceChildren(el("p", { class: "muted empty" }, targets.length ? "No target matches." : "No targets are configured."));
    return;
  }
  pools.replaceChildren(
    ...[...byPool.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([pool, ts]) =>
        el(
          "section",
          { class: "pool" },
          el("h2", {}, pool, " ", el("span", { class: "muted" }, `(${ts.filter((t) => t.health === "up").length}/${ts.length} up)`)),
          el(
            "table",
            { class: "grid" },
            el("thead", {}, el("tr", {}, ["Endpoint", "State", "Labels", "Last scrape", "Duration", "Error"].map((h) => el("th", {}, h)))),
            el(
              "tbody",
              {},
              ts.map((t) => {
                const last = new Date(t.lastScrape);
                return el(
                  "tr",
                  {},
                  el("td", {}, el("a", { href: t.scrapeUrl, rel: "noreferrer" }, t.scrapeUrl)),
                  el("td", {}, el("span", { class: `state ${t.health}` }, t.health)),
                  el("td", { class: "labels" }, labelChips(t.labels)),
                  el("td", { title: t.lastScrape }, last.getUTCFullYear() < 2 ? "never" : ago(last)),
                  el("td", {}, `${(t.lastScrapeDuration * 1000).toFixed(1)} ms`),
                  el("td", { class: "error" }, t.lastError),
                );
              }),
            ),
          ),
        ),
      ),
  );
}

function saveFilter() {
  const p = new URLSearchParams();
  if (stateSel.value) p.set("state", stateSel.value);
  if (filter.value) p.set("q", filter.value);
  history.replaceState(null, "", location.pathname + (p.size ? "?" + p : ""));
  render();
}

stateSel.addEventListener("change", saveFilter);
filter.addEventListener("input", saveFilter);

async function load() {
  try {
    const { data } = await api("/api/v1/targets", { params: { state: "active" } });
    targets = data.activeTargets || [];
    render();
    markReady();
  } catch (err) {
    showError(pools, err);
  }
}

load();
setInterval(load, 15000);
