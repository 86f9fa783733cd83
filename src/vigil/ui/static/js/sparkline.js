// Small shared pieces of the Overview, Alerts and Health pages: sparklines, number formats,
// and fetching the APIs that answer bare JSON (Alertmanager's v2) rather than the envelope.

import { ApiError, csrfToken, toLogin, url } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

// An SVG sparkline of [[t, v], ...] (v a number or a numeric string); NaN and gaps break the line.
export function sparkline(points, { width = 120, height = 28, cls = "spark" } = {}) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", cls);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("aria-hidden", "true");
  const pts = points.map(([t, v]) => [Number(t), Number(v)]).filter(([, v]) => Number.isFinite(v));
  if (pts.length < 2) return svg;
  const t0 = pts[0][0];
  const t1 = pts[pts.length - 1][0];
  let lo = Math.min(...pts.map((p) => p[1]));
  let hi = Math.max(...pts.map((p) => p[1]));
  if (lo > 0 && hi > 0) lo = 0;
  if (hi === lo) hi = lo + 1;
  const x = (t) => (t1 === t0 ? 0 : ((t - t0) / (t1 - t0)) * (width - 2) + 1);
  const y = (v) => height - 2 - ((v - lo) / (hi - lo)) * (height - 4);
  const line = pts.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const area = document.createElementNS(SVG, "polygon");
  area.setAttribute("points", `${x(t0).toFixed(1)},${height} ${line} ${x(t1).toFixed(1)},${height}`);
  area.setAttribute("class", "spark-area");
  const poly = document.createElementNS(SVG, "polyline");
  poly.setAttribute("points", line);
  poly.setAttribute("class", "spark-line");
  svg.append(area, poly);
  return svg;
}

export function fmtRate(v) {
  if (!Number.isFinite(v)) return "–";
  if (v === 0) return "0/s";
  if (v < 0.01) return `${(v * 60).toPrecision(2)}/min`;
  return `${v < 10 ? v.toPrecision(3) : Math.round(v)}/s`;
}

export function fmtPercent(v) {
  if (!Number.isFinite(v)) return "–";
  const p = v * 100;
  return `${p === 0 ? "0" : p < 0.1 ? p.toPrecision(1) : p < 10 ? p.toFixed(1) : Math.round(p)}%`;
}

export function fmtSeconds(v) {
  if (!Number.isFinite(v)) return "–";
  if (v < 0.001) return `${(v * 1e6).toPrecision(3)} µs`;
  if (v < 1) return `${(v * 1000).toPrecision(3)} ms`;
  return `${v.toPrecision(3)} s`;
}

export function fmtBytes(v) {
  if (!Number.isFinite(v)) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function fmtDuration(seconds) {
  let s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400);
  s %= 86400;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const parts = [];
  if (d) parts.push(`${d}d`);
  if (h) parts.push(`${h}h`);
  if (m && !d) parts.push(`${m}m`);
  return parts.slice(0, 2).join(" ");
}

// "2h", "30m", "1d12h", "90s" -> seconds (NaN when it is not a duration).
export function parseDuration(text) {
  const m = String(text).trim().match(/^((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?$/);
  if (!m || !String(text).trim()) return NaN;
  const [w, d, h, mi, s] = [m[2], m[4], m[6], m[8], m[10]].map((x) => Number(x || 0));
  return w * 604800 + d * 86400 + h * 3600 + mi * 60 + s;
}

// Explore's URL for an expression over a relative range.
export function exploreUrl(expr, range = "1h") {
  return url("/explore?" + new URLSearchParams({ expr, range }));
}

// A fetch of an API that answers bare JSON (Alertmanager's v2): the body, or an ApiError.
export async function rawApi(path, { method = "GET", json = undefined } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken;
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(url(path), init);
  if (resp.status === 401) {
    toLogin();
    throw new ApiError(401, "unauthorized", "signed out");
  }
  const text = await resp.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (!resp.ok) {
    const msg = body && typeof body === "object" ? body.error || JSON.stringify(body) : String(body || resp.statusText);
    throw new ApiError(resp.status, (body && body.errorType) || "error", `${resp.status}: ${msg}`);
  }
  return body;
}

// The signed-in user's role ("viewer", "editor", "admin"), from the page's header.
export function myRole() {
  const r = document.querySelector("header .role");
  return r ? r.textContent.trim() : "";
}

export function myName() {
  const a = document.querySelector("header .who a");
  return a ? a.textContent.trim() : "";
}

const RANK = { viewer: 1, editor: 2, admin: 3 };
export function roleAtLeast(role) {
  return (RANK[myRole()] || 0) >= RANK[role];
}

// A labels object as sorted `k="v"` chips (text, never HTML).
export function labelText(labels, skip = []) {
  return Object.keys(labels)
    .filter((k) => !skip.includes(k))
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
}
