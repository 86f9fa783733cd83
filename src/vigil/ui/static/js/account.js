// Account: change one's password; admins also manage users and API tokens.

import { api, el, markReady } from "./api.js";

const $ = (id) => document.getElementById(id);

function msg(form, text, ok) {
  const m = form.querySelector(".msg");
  m.textContent = text;
  m.className = "msg " + (ok ? "ok" : "error");
}

$("password").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    await api("/api/v1/auth/password", { method: "POST", json: { current: f.elements["current"].value, new: f.elements["new"].value } });
    f.reset();
    msg(f, "Password changed; other sessions were signed out.", true);
  } catch (err) {
    msg(f, err.message, false);
  }
});

async function loadUsers() {
  const { data } = await api("/api/v1/auth/users");
  $("users").replaceChildren(
    el("thead", {}, el("tr", {}, ["User", "Role", "Created", ""].map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      data.map((u) =>
        el(
          "tr",
          {},
          el("td", {}, u.name),
          el("td", {}, u.role),
          el("td", {}, new Date(u.created * 1000).toISOString().slice(0, 16).replace("T", " ")),
          el("td", {}, el("button", { type: "button", class: "small", onclick: () => removeUser(u.name) }, "Remove")),
        ),
      ),
    ),
  );
}

async function removeUser(name) {
  if (!confirm(`Remove user ${name}?`)) return;
  try {
    await api(`/api/v1/auth/users/${encodeURIComponent(name)}`, { method: "DELETE" });
  } catch (err) {
    alert(err.message);
  }
  loadUsers();
}

async function loadTokens() {
  const { data } = await api("/api/v1/auth/tokens");
  $("tokens").replaceChildren(
    el("thead", {}, el("tr", {}, ["Name", "Role", "Created by", ""].map((h) => el("th", {}, h)))),
    el(
      "tbody",
      {},
      data.map((t) =>
        el(
          "tr",
          {},
          el("td", {}, t.name),
          el("td", {}, t.role),
          el("td", {}, t.createdBy),
          el("td", {}, el("button", { type: "button", class: "small", onclick: () => revoke(t.id) }, "Revoke")),
        ),
      ),
    ),
  );
}

async function revoke(id) {
  await api(`/api/v1/auth/tokens/${encodeURIComponent(id)}`, { method: "DELETE" });
  loadTokens();
}

$("adduser").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    await api("/api/v1/auth/users", { method: "POST", json: { name: f.elements["name"].value, password: f.elements["password"].value, role: f.elements["role"].value } });
    f.reset();
    msg(f, "Added.", true);
    loadUsers();
  } catch (err) {
    msg(f, err.message, false);
  }
});

$("addtoken").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target;
  try {
    const { data } = await api("/api/v1/auth/tokens", { method: "POST", json: { name: f.elements["name"].value, role: f.elements["role"].value } });
    f.reset();
    msg(f, "Created: copy the token now, it is not shown again.", true);
    $("newtoken").textContent = data.token;
    $("newtoken").hidden = false;
    loadTokens();
  } catch (err) {
    msg(f, err.message, false);
  }
});

(async () => {
  const { data } = await api("/api/v1/auth/me");
  if (data.role === "admin") {
    $("admin").hidden = false;
    await Promise.all([loadUsers(), loadTokens()]);
  }
  markReady();
})();
