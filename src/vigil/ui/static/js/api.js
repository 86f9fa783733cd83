// The one way pages talk to the server: the JSON API, with the session's CSRF token.

const meta = document.querySelector('meta[name="csrf-token"]');
export const csrfToken = meta ? meta.content : "";

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

// GET (params in the query string) or another method (params as a form, or a JSON body).
export async function api(path, { params = null, method = "GET", json = undefined, signal } = {}) {
  let url = path;
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" }, signal };
  if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrfToken;
  if (params) {
    const qs = new URLSearchParams(params);
    if (method === "GET") url += (url.includes("?") ? "&" : "?") + qs;
    else {
      init.body = qs;
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
    }
  }
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(url, init);
  if (resp.status === 401 && !path.startsWith("/api/v1/auth/password")) {
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
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
