// The note's page. It keeps `shadow`, the note as the node last gave it.
// A batch of keystrokes goes to the node as {base: shadow, text: now}; the
// node makes it a Text edit and answers with the note. Whatever came from
// elsewhere meanwhile (the answer, or a "note.changed" event) is merged
// into the textarea by moving the local edits past it, and the cursor is
// moved with the text around it, never reset.
"use strict";
const ta = document.querySelector("#note");
let shadow = "";
let inflight = false, stale = false, timer = 0, connected = false;

// diff is the one edit that turns a into b (prefix and suffix kept).
function diff(a, b) {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  return { pos: p, del: a.length - p - s, ins: b.slice(p, b.length - s) };
}

// rebase moves mine (an edit of a base) past theirs (another edit of it),
// as the node does (examples/notes/edit.go).
function rebase(mine, theirs) {
  const start = mine.pos, end = mine.pos + mine.del, tStart = theirs.pos, tEnd = theirs.pos + theirs.del;
  const tIns = theirs.ins.length;
  if (theirs.del === 0 && tIns === 0) return [mine];
  if (tEnd <= start) return [{ pos: start + tIns - theirs.del, del: mine.del, ins: mine.ins }];
  if (end <= tStart) return [mine];
  if (start < tStart) {
    const first = { pos: start, del: tStart - start, ins: mine.ins };
    return end <= tEnd ? [first] : [first, { pos: start + mine.ins.length + tIns, del: end - tEnd, ins: "" }];
  }
  return [{ pos: tStart + tIns, del: Math.max(0, end - tEnd), ins: mine.ins }];
}

function apply(s, e) { return s.slice(0, e.pos) + e.ins + s.slice(e.pos + e.del); }

function mapPos(pos, e) {
  if (pos <= e.pos) return pos;
  if (pos >= e.pos + e.del) return pos + e.ins.length - e.del;
  return e.pos + e.ins.length;
}

// show puts text in the textarea, keeping the selection on the same
// characters.
function show(text) {
  const old = ta.value;
  if (old === text) return;
  const e = diff(old, text);
  const a = mapPos(ta.selectionStart, e), b = mapPos(ta.selectionEnd, e);
  ta.value = text;
  if (document.activeElement === ta) ta.setSelectionRange(a, b);
  count();
}

// merge shows the node's note `fresh` with the local edits made since
// `base` moved onto it.
function merge(base, fresh) {
  let text = fresh;
  if (ta.value !== base) {
    for (const e of rebase(diff(base, ta.value), diff(base, fresh))) text = apply(text, e);
  }
  show(text);
  shadow = fresh;
}

async function send() {
  timer = 0;
  if (inflight || ta.value === shadow) return;
  inflight = true;
  const sent = ta.value;
  let failed = false;
  try {
    const r = await fetch("/api/note", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ base: shadow, text: sent }) });
    if (!r.ok) throw new Error(await r.text());
    const fresh = (await r.json()).text;
    // Keystrokes typed while this was on its way are edits of `sent`.
    merge(sent, fresh);
    setState("");
  } catch (e) {
    setState("Not saved: " + e.message + " (retrying)");
    failed = true;
    setTimeout(schedule, 1000);
  } finally {
    inflight = false;
  }
  if (failed) return;
  if (stale) refresh();
  else schedule();
}

async function refresh() {
  if (inflight) { stale = true; return; }
  stale = false;
  try {
    const r = await fetch("/api/note");
    if (!r.ok) throw new Error(await r.text());
    const fresh = (await r.json()).text;
    if (inflight) { stale = true; return; }
    merge(shadow, fresh);
    schedule();
  } catch (e) { setState("Cannot read the note: " + e.message); }
}

function schedule() {
  if (!timer && ta.value !== shadow) timer = setTimeout(send, 30);
}

function count() {
  document.querySelector("#count").textContent = [...ta.value].length + " characters";
}

function setState(problem) {
  const s = document.querySelector("#state");
  s.textContent = problem || (connected ? "live" : "This node is unreachable — reconnecting…");
  s.className = problem || !connected ? "bad" : "";
}

ta.addEventListener("input", () => { count(); schedule(); });
const es = new EventSource("/_nx/events?prefix=note.");
es.onopen = () => { connected = true; setState(""); refresh(); };
es.addEventListener("note.changed", refresh);
es.onerror = () => { connected = false; setState(""); };
