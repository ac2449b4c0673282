// The board's page: it renders GET /api/tasks, writes through the API, and
// re-reads the board whenever the node publishes "board.tasks" on
// /_nx/events (a change made here or replicated from a peer).
"use strict";
const $ = (s) => document.querySelector(s);
let tasks = [];

async function api(method, path, body) {
  const r = await fetch(path, { method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined });
  if (!r.ok) throw new Error(await r.text());
  return r.status === 204 ? null : r.json();
}

async function load() {
  tasks = await api("GET", "/api/tasks");
  render();
}

function render() {
  const ol = $("#tasks");
  ol.replaceChildren(...tasks.map((t, i) => row(t, i)));
  $("#empty").hidden = tasks.length > 0;
  document.body.dataset.version = String(Date.now());
}

function row(t, i) {
  const li = document.createElement("li");
  li.className = "task" + (t.done ? " done" : "");
  li.dataset.id = t.id;
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = t.done;
  box.className = "toggle";
  box.setAttribute("aria-label", "done");
  box.onchange = () => act(api("PATCH", `/api/tasks/${t.id}`, { done: box.checked }));
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = t.title;
  title.ondblclick = () => edit(li, t);
  const up = button("↑", "move up", () => move(i, -1));
  const down = button("↓", "move down", () => move(i, +1));
  up.classList.add("move"); down.classList.add("move");
  const ed = button("✎", "edit", () => edit(li, t));
  const del = button("✕", "delete", () => act(api("DELETE", `/api/tasks/${t.id}`)));
  li.append(box, title, up, down, ed, del);
  return li;
}

function button(text, label, f) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.title = label;
  b.setAttribute("aria-label", label);
  b.className = label.replace(" ", "-");
  b.onclick = f;
  return b;
}

function edit(li, t) {
  const input = document.createElement("input");
  input.className = "edit";
  input.value = t.title;
  li.querySelector(".title").replaceWith(input);
  input.focus();
  const done = (save) => { if (save && input.value.trim() && input.value !== t.title) act(api("PATCH", `/api/tasks/${t.id}`, { title: input.value })); else render(); };
  input.onkeydown = (e) => { if (e.key === "Enter") done(true); if (e.key === "Escape") done(false); };
  input.onblur = () => done(true);
}

// move puts task i between its neighbours one step up or down (fractional
// positions: one write, whatever the board's size).
function move(i, dir) {
  const j = i + dir;
  if (j < 0 || j >= tasks.length) return;
  const far = tasks[j + dir];
  const pos = far ? (tasks[j].pos + far.pos) / 2 : tasks[j].pos + dir;
  act(api("PATCH", `/api/tasks/${tasks[i].id}`, { pos }));
}

function act(p) {
  p.then(load).catch((e) => banner("Not saved: " + e.message));
}

function banner(text) {
  const b = $("#banner");
  b.textContent = text || "";
  b.hidden = !text;
}

let offline = false, disconnected = false;
function showState() {
  if (disconnected) banner("This node is unreachable — reconnecting…");
  else if (offline) banner("Offline from peers: changes are kept here and sync when the link is back.");
  else banner("");
}

async function status() {
  try {
    const s = await api("GET", "/api/status");
    $("#node").textContent = "node " + s.node.slice(0, 8);
    $("#node").title = s.node;
    $("#peers").replaceChildren(...s.peers.map((p) => {
      const li = document.createElement("li");
      li.className = p.up ? "up" : "down";
      li.textContent = p.id.slice(0, 8);
      li.title = `${p.id} ${p.addr} ${p.up ? "reachable" : "unreachable"}`;
      return li;
    }));
    offline = s.offline;
  } catch (e) { /* the event stream says when the node is gone */ }
  showState();
}

function events() {
  const es = new EventSource("/_nx/events?prefix=board.");
  es.onopen = () => { disconnected = false; showState(); load(); status(); };
  es.addEventListener("board.tasks", () => load());
  es.addEventListener("board.peers", () => status());
  es.onerror = () => { disconnected = true; showState(); };
}

$("#add").onsubmit = (e) => {
  e.preventDefault();
  const t = $("#title");
  const title = t.value.trim();
  if (!title) { banner("A task needs a title."); return; }
  t.value = "";
  act(api("POST", "/api/tasks", { title }));
};
events();
setInterval(status, 2000);
