// The node status page: it reads /api/v1/ (with the page's ?token= when the
// node has one) every two seconds.
"use strict";
const token = new URLSearchParams(location.search).get("token");
const $ = (s) => document.querySelector(s);
const types = ["gcounter", "pncounter", "lww-register", "lww-map", "orset", "rga"];
let type = "gcounter", after = "";

async function get(path) {
  const r = await fetch(path, { headers: token ? { Authorization: "Bearer " + token } : {} });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function cells(tr, values) {
  for (const v of values) { const td = document.createElement("td"); td.textContent = v; tr.append(td); }
  return tr;
}

async function node() {
  const n = await get("/api/v1/node");
  $("#node").textContent = n.node_id;
  $("#meta").textContent = `${n.version} · up ${Math.round(n.uptime_seconds)} s` + (n.sync ? "" : " · sync off");
  $("#peers tbody").replaceChildren(...n.peers.map((p) => cells(document.createElement("tr"), [p.node_id || "", p.addr || "", p.health, p.lag])));
  $("#vv tbody").replaceChildren(...Object.entries(n.version_vector).sort().map(([o, s]) => cells(document.createElement("tr"), [o, s])));
  $("#discovery").textContent = `${n.discovery.mode}, ${n.discovery.members} member(s)`;
  $("#events").replaceChildren(...n.events.map((e) => { const li = document.createElement("li"); li.textContent = `${e.at} ${e.name} ${e.payload}`; return li; }));
}

async function keys(reset) {
  if (reset) { after = ""; $("#keys").replaceChildren(); $("#value").replaceChildren(); }
  const page = await get(`/api/v1/objects/${type}?limit=50&after=${encodeURIComponent(after)}`);
  for (const k of page.keys) {
    const li = document.createElement("li");
    li.textContent = k;
    li.dataset.key = k;
    li.onclick = () => show(k, 0);
    $("#keys").append(li);
  }
  after = page.next || "";
  $("#more").hidden = !page.next;
}

async function show(key, offset) {
  const v = await get(`/api/v1/objects/${type}/${encodeURIComponent(key)}?offset=${offset}&limit=50`);
  const pre = document.createElement("pre");
  pre.id = "object";
  if (v.items) pre.textContent = `${type} ${key}: ${v.total} item(s)\n` + v.items.map((x, i) => `${offset + i}: ${x}`).join("\n");
  else pre.textContent = `${type} ${key} = ${v.value}`;
  const parts = [pre];
  if (v.items && offset + v.items.length < v.total) {
    const b = document.createElement("button");
    b.textContent = "next items";
    b.onclick = () => show(key, offset + v.items.length);
    parts.push(b);
  }
  $("#value").replaceChildren(...parts);
}

$("#types").replaceChildren(...types.map((t) => {
  const b = document.createElement("button");
  b.textContent = t;
  b.dataset.type = t;
  b.onclick = () => { type = t; for (const x of document.querySelectorAll("#types button")) x.classList.toggle("on", x.dataset.type === t); keys(true); };
  b.classList.toggle("on", t === type);
  return b;
}));
$("#more").onclick = () => keys(false);
node().catch((e) => { $("#meta").textContent = "error: " + e.message; });
keys(true).catch(() => {});
setInterval(() => node().catch((e) => { $("#meta").textContent = "error: " + e.message; }), 2000);
