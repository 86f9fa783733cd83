// Status: build information, storage statistics (top metrics by cardinality), flags and config.

import { api, el, markReady, showError } from "./api.js";

const $ = (id) => document.getElementById(id);

function kv(table, pairs) {
  table.replaceChildren(...pairs.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
}

function topTable(title, rows, unit) {
  return el(
    "div",
    { class: "card" },
    el("h3", {}, title),
    rows.length
      ? el(
          "table",
          { class: "grid" },
          el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", { class: "num" }, unit))),
          el("tbody", {}, rows.map((r) => el("tr", {}, el("td", {}, r.name), el("td", { class: "num" }, r.value.toLocaleString())))),
        )
      : el("p", { class: "muted" }, "None."),
  );
}

function time(ms) {
  return ms ? new Date(ms).toISOString() : "–";
}

async function section(fn, where) {
  try {
    await fn();
  } catch (err) {
    showError(where, err);
  }
}

const sections = [];
sections.push(section(async () => {
  const { data } = await api("/api/v1/status/buildinfo");
  kv($("build"), Object.entries(data).filter(([, v]) => v !== ""));
}, $("build")));

sections.push(section(async () => {
  const { data } = await api("/api/v1/status/tsdb", { params: { limit: 10 } });
  const h = data.headStats;
  kv($("head"), [
    ["Series", h.numSeries.toLocaleString()],
    ["Label pairs", h.numLabelPairs.toLocaleString()],
    ["Oldest sample", time(h.minTime)],
    ["Newest sample", time(h.maxTime)],
  ]);
  $("tsdb").replaceChildren(
    topTable("Top metrics by series count", data.seriesCountByMetricName, "Series"),
    topTable("Top labels by value count", data.labelValueCountByLabelName, "Values"),
    topTable("Top label pairs by series count", data.seriesCountByLabelValuePair, "Series"),
    topTable("Label names by memory", data.memoryInBytesByLabelName, "Bytes"),
  );
}, $("head")));

sections.push(section(async () => {
  const { data } = await api("/api/v1/status/flags");
  const pairs = Object.entries(data);
  kv($("flags"), pairs.length ? pairs : [["", "No flags."]]);
}, $("flags")));

sections.push(section(async () => {
  const { data } = await api("/api/v1/status/config");
  $("config").textContent = data.yaml || "# no configuration loaded";
}, $("config")));

Promise.all(sections).then(markReady);
