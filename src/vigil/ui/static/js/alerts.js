// Alerts: firing and pending alerts (silence one in two clicks), silences (expire one),
// the history as a timeline with a lane per alert, and the rules with their state.

import { ago, api, el, markReady } from "./api.js";
import { exploreUrl, fmtDuration, fmtSeconds, labelText, myName, parseDuration, rawApi, roleAtLeast } from "./sparkline.js";

const REFRESH_MS = 15000;
const TABS = ["alerts", "silences", "history", "rules"];
const RANGE_S = { "1h": 3600, "3h": 10800, "6h": 21600, "12h": 43200, "1d": 86400, "2d": 172800, "7d": 604800 };

const $ = (id) => document.getElementById(id);
const canSilence = roleAtLeast("editor");
const state = { loads: 0, alerts: [], silences: [], events: [], lanes: [], rules: [], created: [] };
window.vigilAlerts = state;

const params = new URLSearchParams(location.search);
$("al-filter").value = params.get("q") || "";
$("hist-range").value = RANGE_S[params.get("range")] ? params.get("range") : "6h";

function fmtTime(iso) {
  const d = new Date(iso);
  return Number.isFinite(d.getTime()) && d.getUTCFullYear() > 1 ? d.toLocaleString() : "–";
}

function chips(labels, skip = []) {
  return labelText(labels, skip).map((t) => el("span", { class: "chip" }, t));
}

function stateBadge(s) {
  return el("span", { class: `state ${s}` }, s);
}

// ---- tabs ---------------------------------------------------------------------------

function showTab(name) {
  if (!TABS.includes(name)) name = "alerts";
  for (const t of TABS) {
    $(`tab-${t}`).hidden = t !== name;
    document.querySelector(`.tabs [data-tab="${t}"]`).setAttribute("aria-selected", String(t === name));
  }
  if (name === "history") loadHistory();
}
for (const b of document.querySelectorAll(".tabs [data-tab]")) {
  b.addEventListener("click", () => {
    history.replaceState(null, "", location.pathname + location.search + (b.dataset.tab === "alerts" ? "" : `#${b.dataset.tab}`));
    showTab(b.dataset.tab);
  });
}
window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));

// ---- alerts -------------------------------------------------------------------------

// Rule alerts (/api/v1/alerts: pending and firing) joined with the notifier's (/api/v2/alerts:
// active or suppressed, silenced by which silences); alerts posted to v2 by others too.
function merge(v1, v2) {
  const used = new Set();
  const out = [];
  for (const a of v1) {
    let match = null;
    if (a.state === "firing") {
      const i = v2.findIndex((b, j) => !used.has(j) && Object.entries(a.labels).every(([k, v]) => b.labels[k] === v));
      if (i >= 0) {
        used.add(i);
        match = v2[i];
      }
    }
    out.push({
      labels: match ? match.labels : a.labels,
      annotations: match ? match.annotations : a.annotations,
      state: a.state === "pending" ? "pending" : match && match.status.state === "suppressed" ? "suppressed" : "firing",
      since: a.state === "firing" && match ? match.startsAt : a.activeAt,
      value: a.value,
      fingerprint: match ? match.fingerprint : "",
      silencedBy: match ? match.status.silencedBy : [],
      inhibitedBy: match ? match.status.inhibitedBy : [],
      generatorURL: match ? match.generatorURL : "",
    });
  }
  v2.forEach((b, j) => {
    if (used.has(j)) return;
    out.push({
      labels: b.labels,
      annotations: b.annotations,
      state: b.status.state === "suppressed" ? "suppressed" : "firing",
      since: b.startsAt,
      value: "",
      fingerprint: b.fingerprint,
      silencedBy: b.status.silencedBy,
      inhibitedBy: b.status.inhibitedBy,
      generatorURL: b.generatorURL,
    });
  });
  const order = { firing: 0, pending: 1, suppressed: 2 };
  out.sort(
    (x, y) =>
      order[x.state] - order[y.state] ||
      (x.labels.alertname || "").localeCompare(y.labels.alertname || "") ||
      JSON.stringify(x.labels).localeCompare(JSON.stringify(y.labels)),
  );
  return out;
}

function annotationsCell(ann) {
  const keys = Object.keys(ann || {}).sort((a, b) => {
    const rank = (k) => (k === "summary" ? 0 : k === "description" ? 1 : 2);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
  return el(
    "td",
    { class: "annotations" },
    keys.map((k) => el("div", {}, el("span", { class: "muted" }, `${k}: `), ann[k])),
  );
}

function renderAlerts() {
  const show = {
    firing: $("show-firing").checked,
    pending: $("show-pending").checked,
    suppressed: $("show-suppressed").checked,
  };
  const text = $("al-filter").value.toLowerCase();
  const shown = state.alerts.filter(
    (a) =>
      show[a.state] &&
      (!text || JSON.stringify(a.labels).toLowerCase().includes(text) || JSON.stringify(a.annotations).toLowerCase().includes(text)),
  );
  const count = (s) => state.alerts.filter((a) => a.state === s).length;
  $("n-alerts").textContent = String(count("firing"));
  $("al-summary").textContent = `${count("firing")} firing, ${count("pending")} pending, ${count("suppressed")} suppressed`;
  if (!shown.length) {
    $("alerts").replaceChildren(el("p", { class: "muted empty" }, state.alerts.length ? "No alert matches." : "No alerts are firing or pending."));
    return;
  }
  $("alerts").replaceChildren(
    el(
      "table",
      { class: "grid alerts" },
      el("thead", {}, el("tr", {}, ["State", "Alert", "Annotations", "Since", ""].map((h) => el("th", {}, h)))),
      el(
        "tbody",
        {},
        shown.map((a) => {
          const since = new Date(a.since);
          const silenceBtn = el(
            "button",
            {
              type: "button",
              class: "small silence",
              disabled: !canSilence,
              title: canSilence ? "Silence alerts with these labels" : "Silencing needs the editor role",
              onclick: () => openSilence(a),
            },
            "Silence",
          );
          return el(
            "tr",
            { class: `alert-row ${a.state}`, "data-alertname": a.labels.alertname || "", id: a.fingerprint ? `alert-${a.fingerprint}` : null },
            el("td", {}, stateBadge(a.state)),
            el(
              "td",
              { class: "labels" },
              el("strong", { class: "alertname" }, a.labels.alertname || "(no alertname)"),
              " ",
              chips(a.labels, ["alertname"]),
              a.silencedBy && a.silencedBy.length
                ? el(
                    "div",
                    { class: "muted" },
                    "silenced by ",
                    a.silencedBy.map((id) => el("a", { href: `#silences`, "data-silence": id, class: "silenced-by" }, id.slice(0, 8))),
                  )
                : null,
              a.inhibitedBy && a.inhibitedBy.length ? el("div", { class: "muted" }, `inhibited by ${a.inhibitedBy.length} alert(s)`) : null,
            ),
            annotationsCell(a.annotations),
            el("td", { title: fmtTime(a.since), class: "since" }, ago(since)),
            el("td", { class: "actions" }, silenceBtn),
          );
        }),
      ),
    ),
  );
}

for (const id of ["show-firing", "show-pending", "show-suppressed"]) $(id).addEventListener("change", renderAlerts);
$("al-filter").addEventListener("input", () => {
  const p = new URLSearchParams(location.search);
  if ($("al-filter").value) p.set("q", $("al-filter").value);
  else p.delete("q");
  history.replaceState(null, "", location.pathname + (p.size ? "?" + p : "") + location.hash);
  renderAlerts();
});

// ---- the silence form ---------------------------------------------------------------

const dialog = $("silence-dialog");
const form = $("silence-form");

function updateEnds() {
  const secs = parseDuration($("sf-duration").value);
  $("sf-ends").textContent = Number.isFinite(secs) && secs > 0 ? `Ends ${new Date(Date.now() + secs * 1000).toLocaleString()}` : "";
}

function openSilence(alert) {
  $("sf-error").textContent = "";
  $("sf-matchers").replaceChildren(
    ...Object.keys(alert.labels)
      .sort((a, b) => (a === "alertname" ? -1 : b === "alertname" ? 1 : a.localeCompare(b)))
      .map((k) =>
        el(
          "label",
          { class: "matcher" },
          el("input", { type: "checkbox", checked: true, "data-name": k, "data-value": alert.labels[k] }),
          ` ${k}=${JSON.stringify(alert.labels[k])}`,
        ),
      ),
  );
  $("sf-duration").value = "2h";
  $("sf-comment").value = `Silenced ${alert.labels.alertname || "alert"} from the Alerts page`;
  $("sf-creator").value = myName();
  updateEnds();
  dialog.showModal();
  $("sf-create").focus();
}

$("sf-duration").addEventListener("input", updateEnds);
$("sf-cancel").addEventListener("click", () => dialog.close());

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const matchers = [...$("sf-matchers").querySelectorAll("input:checked")].map((i) => ({
    name: i.dataset.name,
    value: i.dataset.value,
    isRegex: false,
    isEqual: true,
  }));
  const secs = parseDuration($("sf-duration").value);
  if (!matchers.length) {
    $("sf-error").textContent = "Keep at least one matcher.";
    return;
  }
  if (!Number.isFinite(secs) || secs <= 0) {
    $("sf-error").textContent = `Duration ${JSON.stringify($("sf-duration").value)}: use e.g. 30m, 2h, 1d.`;
    return;
  }
  const now = Date.now();
  const body = {
    matchers,
    startsAt: new Date(now).toISOString(),
    endsAt: new Date(now + secs * 1000).toISOString(),
    createdBy: $("sf-creator").value.trim(),
    comment: $("sf-comment").value.trim(),
  };
  $("sf-create").disabled = true;
  try {
    const { silenceID } = await rawApi("/api/v2/silences", { method: "POST", json: body });
    state.created.push(silenceID);
    dialog.close();
    await load();
  } catch (err) {
    $("sf-error").textContent = `Could not create the silence: ${err.message}`;
  } finally {
    $("sf-create").disabled = false;
  }
});

// ---- silences -----------------------------------------------------------------------

function matcherText(m) {
  const op = m.isRegex ? (m.isEqual === false ? "!~" : "=~") : m.isEqual === false ? "!=" : "=";
  return `${m.name}${op}${JSON.stringify(m.value)}`;
}

async function expire(id) {
  try {
    await rawApi(`/api/v2/silence/${encodeURIComponent(id)}`, { method: "DELETE" });
    await load();
  } catch (err) {
    $("al-error").textContent = `Could not expire silence ${id}: ${err.message}`;
  }
}

function renderSilences() {
  const want = $("sil-state").value;
  const shown = state.silences.filter((s) => !want || s.status.state === want);
  const count = (st) => state.silences.filter((s) => s.status.state === st).length;
  $("n-silences").textContent = String(count("active"));
  $("sil-summary").textContent = `${count("active")} active, ${count("pending")} pending, ${count("expired")} expired`;
  if (!shown.length) {
    $("silences").replaceChildren(el("p", { class: "muted empty" }, "No silences."));
    return;
  }
  $("silences").replaceChildren(
    el(
      "table",
      { class: "grid silences" },
      el("thead", {}, el("tr", {}, ["State", "Matchers", "Created by", "Comment", "Starts", "Ends", ""].map((h) => el("th", {}, h)))),
      el(
        "tbody",
        {},
        shown.map((s) => {
          const live = s.status.state !== "expired";
          const ends = new Date(s.endsAt);
          return el(
            "tr",
            { class: `silence-row ${s.status.state}`, id: `silence-${s.id}`, "data-id": s.id },
            el("td", {}, stateBadge(s.status.state)),
            el("td", { class: "labels" }, s.matchers.map((m) => el("span", { class: "chip" }, matcherText(m)))),
            el("td", {}, s.createdBy),
            el("td", {}, s.comment),
            el("td", { title: fmtTime(s.startsAt) }, fmtTime(s.startsAt)),
            el(
              "td",
              { title: fmtTime(s.endsAt) },
              live ? `in ${fmtDuration((ends.getTime() - Date.now()) / 1000)}` : ago(ends),
            ),
            el(
              "td",
              {},
              live
                ? el(
                    "button",
                    {
                      type: "button",
                      class: "small expire",
                      disabled: !canSilence,
                      title: canSilence ? "Expire this silence now" : "Needs the editor role",
                      onclick: () => expire(s.id),
                    },
                    "Expire",
                  )
                : null,
            ),
          );
        }),
      ),
    ),
  );
}
$("sil-state").addEventListener("change", renderSilences);

// ---- history ------------------------------------------------------------------------

// One lane per alert (fingerprint): pending and firing intervals, notification ticks.
function lanes(events, start, end) {
  const byFp = new Map();
  // The API lists newest first; reversed, equal times keep their order (pending before firing).
  const asc = [...events].reverse().sort((a, b) => a.time - b.time);
  for (const e of asc) {
    if (!byFp.has(e.fingerprint)) byFp.set(e.fingerprint, { fingerprint: e.fingerprint, alertname: e.alertname, labels: e.labels, bars: [], notes: [], cur: null });
    const lane = byFp.get(e.fingerprint);
    if (e.kind === "notification") {
      lane.notes.push(e);
      continue;
    }
    if (lane.cur === null && !lane.bars.length && (e.previous === "firing" || e.previous === "pending")) {
      lane.cur = { state: e.previous, from: start };
    }
    if (lane.cur) {
      // A state held for no time (pending then firing in one evaluation) draws nothing.
      if (e.time > lane.cur.from) lane.bars.push({ state: lane.cur.state, from: lane.cur.from, to: e.time });
      lane.cur = null;
    }
    if (e.state === "firing" || e.state === "pending") lane.cur = { state: e.state, from: e.time };
  }
  const out = [];
  for (const lane of byFp.values()) {
    if (lane.cur) lane.bars.push({ state: lane.cur.state, from: lane.cur.from, to: end, open: true });
    delete lane.cur;
    out.push(lane);
  }
  out.sort((a, b) => a.alertname.localeCompare(b.alertname) || JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
  return out;
}

function pct(t, start, end) {
  return Math.max(0, Math.min(100, ((t - start) / (end - start)) * 100));
}

function renderHistory(start, end) {
  state.lanes = lanes(state.events, start, end);
  const firings = state.events.filter((e) => e.kind === "state" && e.state === "firing").length;
  const notes = state.events.filter((e) => e.kind === "notification").length;
  $("hist-summary").textContent = `${firings} started firing, ${notes} notifications`;
  const axis = el("div", { class: "tl-axis" });
  for (let i = 0; i <= 4; i++) {
    const t = start + ((end - start) * i) / 4;
    const tick = el("span", { class: "tl-tick" }, new Date(t * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    tick.style.left = `${i * 25}%`;
    axis.append(tick);
  }
  if (!state.lanes.length) {
    $("timeline").replaceChildren(el("p", { class: "muted empty" }, "No state changes or notifications in this range."));
  } else {
    $("timeline").replaceChildren(
      el("div", { class: "tl-row tl-head" }, el("div", { class: "tl-label" }), axis),
      ...state.lanes.map((lane) => {
        const track = el("div", { class: "tl-track" });
        for (const b of lane.bars) {
          const bar = el("div", {
            class: `bar ${b.state}${b.open ? " open" : ""}`,
            title: `${b.state} from ${new Date(b.from * 1000).toLocaleString()} ${b.open ? "(still)" : `to ${new Date(b.to * 1000).toLocaleString()}`}`,
          });
          const left = pct(b.from, start, end);
          bar.style.left = `${left}%`;
          bar.style.width = `${Math.max(0.4, pct(b.to, start, end) - left)}%`;
          track.append(bar);
        }
        for (const n of lane.notes) {
          const tick = el("div", {
            class: `note ${n.outcome === "failed" ? "failed" : ""}`,
            title: `${n.state} notification to ${n.receiver} (${n.integration}): ${n.outcome}${n.detail ? ` ${n.detail}` : ""} at ${new Date(n.time * 1000).toLocaleString()}`,
          });
          tick.style.left = `${pct(n.time, start, end)}%`;
          track.append(tick);
        }
        return el(
          "div",
          { class: "tl-row", "data-alertname": lane.alertname },
          el("div", { class: "tl-label", title: labelText(lane.labels).join(", ") }, el("strong", {}, lane.alertname), " ", chips(lane.labels, ["alertname"])),
          track,
        );
      }),
    );
  }
  const recent = state.events.slice(0, 200);
  $("events").replaceChildren(
    recent.length
      ? el(
          "table",
          { class: "grid events" },
          el("thead", {}, el("tr", {}, ["Time", "Alert", "Change", "Details"].map((h) => el("th", {}, h)))),
          el(
            "tbody",
            {},
            recent.map((e) =>
              el(
                "tr",
                { class: `event ev-${e.kind}` },
                el("td", {}, new Date(e.time * 1000).toLocaleString()),
                el("td", { class: "labels" }, el("strong", {}, e.alertname), " ", chips(e.labels, ["alertname"])),
                el(
                  "td",
                  {},
                  e.kind === "state" ? [e.previous || "?", " → ", stateBadge(e.state)] : ["notification ", stateBadge(e.state)],
                ),
                el(
                  "td",
                  { class: e.outcome === "failed" ? "error" : "" },
                  e.kind === "state"
                    ? e.value !== null && e.value !== undefined
                      ? `value ${e.value}`
                      : ""
                    : `${e.receiver} (${e.integration}): ${e.outcome}${e.detail ? ` ${e.detail}` : ""}`,
                ),
              ),
            ),
          ),
        )
      : el("p", { class: "muted" }, "No events."),
  );
}

async function loadHistory() {
  const span = RANGE_S[$("hist-range").value] || 21600;
  const end = Date.now() / 1000;
  const start = end - span;
  try {
    const { data } = await api("/api/vigil/v1/alerts/history", { params: { start: start.toFixed(3), end: end.toFixed(3), limit: 5000 } });
    state.events = data;
    renderHistory(start, end);
  } catch (err) {
    $("timeline").replaceChildren(el("p", { class: "error" }, `Could not load the history: ${err.message}`));
  }
}
$("hist-range").addEventListener("change", () => {
  const p = new URLSearchParams(location.search);
  p.set("range", $("hist-range").value);
  history.replaceState(null, "", location.pathname + "?" + p + location.hash);
  loadHistory();
});

// ---- rules --------------------------------------------------------------------------

function renderRules() {
  const text = $("rule-filter").value.toLowerCase();
  const groups = state.rules
    .map((g) => ({ ...g, rules: g.rules.filter((r) => !text || r.name.toLowerCase().includes(text) || g.name.toLowerCase().includes(text)) }))
    .filter((g) => g.rules.length);
  const all = state.rules.flatMap((g) => g.rules);
  const bad = all.filter((r) => r.health === "err").length;
  $("rule-summary").textContent = `${state.rules.length} groups, ${all.length} rules${bad ? `, ${bad} failing` : ""}`;
  if (!groups.length) {
    $("rules").replaceChildren(el("p", { class: "muted empty" }, state.rules.length ? "No rule matches." : "No rules are loaded."));
    return;
  }
  $("rules").replaceChildren(
    ...groups.map((g) =>
      el(
        "section",
        { class: "rule-group" },
        el(
          "h2",
          {},
          g.name,
          " ",
          el("span", { class: "muted" }, `${g.file} · every ${fmtDuration(g.interval)} · last ${ago(new Date(g.lastEvaluation))} in ${fmtSeconds(g.evaluationTime)}`),
        ),
        el(
          "table",
          { class: "grid rules" },
          el("thead", {}, el("tr", {}, ["Rule", "State", "Health", "Last error", "Last evaluation", "Took"].map((h) => el("th", {}, h)))),
          el(
            "tbody",
            {},
            g.rules.map((r) =>
              el(
                "tr",
                { class: `rule ${r.type}`, "data-rule": r.name },
                el(
                  "td",
                  {},
                  el("div", {}, el("span", { class: "muted" }, r.type === "alerting" ? "alert " : "record "), el("strong", {}, r.name)),
                  el("a", { class: "expr", href: exploreUrl(r.query), title: "Open in Explore" }, r.query),
                  r.type === "alerting" && r.duration ? el("div", { class: "muted" }, `for ${fmtDuration(r.duration)}`) : null,
                ),
                el("td", {}, r.type === "alerting" ? stateBadge(r.state) : el("span", { class: "muted" }, "–")),
                el("td", {}, el("span", { class: `state ${r.health === "ok" ? "up" : r.health === "err" ? "down" : ""}` }, r.health)),
                el("td", { class: "error" }, r.lastError),
                el("td", { title: r.lastEvaluation }, ago(new Date(r.lastEvaluation))),
                el("td", {}, fmtSeconds(r.evaluationTime)),
              ),
            ),
          ),
        ),
      ),
    ),
  );
}
$("rule-filter").addEventListener("input", renderRules);

// ---- loading ------------------------------------------------------------------------

async function optional(promise, fallback) {
  try {
    return await promise;
  } catch (err) {
    if (err.status === 404) return fallback;
    throw err;
  }
}

async function load() {
  try {
    const [v1, v2, silences, rules] = await Promise.all([
      optional(api("/api/v1/alerts").then((r) => r.data.alerts), []),
      optional(rawApi("/api/v2/alerts"), []),
      optional(rawApi("/api/v2/silences"), []),
      optional(api("/api/v1/rules").then((r) => r.data.groups), []),
    ]);
    state.alerts = merge(v1, v2);
    state.silences = silences;
    state.rules = rules;
    renderAlerts();
    renderSilences();
    renderRules();
    if (!$("tab-history").hidden) await loadHistory();
    $("al-error").textContent = "";
    $("al-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    state.loads++;
    markReady();
  } catch (err) {
    $("al-error").textContent = `Could not load the alerts: ${err.message}`;
  }
}

if (!canSilence) $("sf-create").disabled = true;
showTab(location.hash.slice(1));
load();
setInterval(() => {
  if (!document.hidden && !dialog.open) load();
}, REFRESH_MS);
