// The one way pages talk to the server: the JSON API, with the session's CSRF token.
// Every URL of this server goes through url(): the UI may be mounted under a prefix
// (embedded mode, <meta name="vigil-base" content="/vigil">), so "/api/v1/query" is
// fetched as "/vigil/api/v1/query" there.

const meta = document.querySelector('meta[name="csrf-token"]');
export const csrfToken = meta ? meta.content : "";

const baseMeta = document.querySelector('meta[name="vigil-base"]');
export const base = baseMeta ? baseMeta.content.replace(/\/+$/, "") : "";

// "/explore?expr=up" -> "/vigil/explore?expr=up" under the base path; other URLs unchanged.
export function url(path) {
  return typeof path === "string" && path.startsWith("/") && !path.startsWith("//") ? base + path : path;
}

// This page's path and query without the base path (what the login page's `next` wants).
export function here() {
  const p = location.pathname;
  const rel = base && (p === base || p.startsWith(base + "/")) ? p.slice(base.length) || "/" : p;
  return rel + location.search;
}

// Off to the sign-in page, coming back here afterwards.
export function toLogin() {
  window.location.assign(url("/login?next=" + encodeURIComponent(here())));
}

// The readiness signal (benchmarks and tests wait for it): the page's first data is drawn.
// window.vigilReadyAt is when, in ms since the navigation started (performance.now()).
export function markReady() {
  if (!document.body || document.body.dataset.ready) return;
  window.vigilReadyAt = performance.now();
  document.body.dataset.ready = "1";
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

// GET (params in the query string) or another method (params as a form, or a JSON body).
export async function api(path, { params = null, method = "GET", json = undefined, signal } = {}) {
  let target = url(path);
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" }, signal };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken;
  if (params) {
    const qs = new URLSearchParams(params);
    if (method === "GET") target += (target.includes("?") ? "&" : "?") + qs;
    else {
      init.body = qs;
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
    }
  }
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(target, init);
  if (resp.status === 401 && !path.startsWith("/api/v1/auth/password")) {
    toLogin();
    throw new ApiError(401, "unauthorized", "signed out");
  }
  let body;
  try {
    body = await resp.json();
  } catch {
    throw new ApiError(resp.status, "internal", `${resp.status} ${resp.statusText}`);
  }
  if (body.status !== "success") throw new ApiError(resp.status, body.errorType || "internal", body.error || "error");
  return { data: body.data, warnings: body.warnings || [], infos: body.infos || [] };
}

// A new element: el("td", {class: "x"}, "text", child...). Text is always text, never HTML.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

// `name{a="b", c="d"}` for a label set.
export function seriesName(metric) {
  const name = metric.__name__ || "";
  const pairs = Object.entries(metric)
    .filter(([k]) => k !== "__name__")
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return pairs.length ? `${name}{${pairs.join(", ")}}` : name || "{}";
}

export function ago(date) {
  const s = (Date.now() - date.getTime()) / 1000;
  if (!isFinite(s)) return "never";
  if (s < 1) return "just now";
  if (s < 90) return `${Math.round(s)}s ago`;
  if (s < 5400) return `${Math.round(s / 60)}m ago`;
  if (s < 129600) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

export function showError(container, err) {
  container.replaceChildren(el("p", { class: "error", role: "alert" }, err.message || String(err)));
}
