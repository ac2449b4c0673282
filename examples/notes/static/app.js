// The note's page. It keeps `shadow`, the note as the node last gave it.
// A batch of keystrokes goes to the node as {base: shadow, text: now}; the
// node makes it a Text edit and answers with the note. Whatever came from
// elsewhere meanwhile (the answer, or a "note.changed" event) is merged
// into the textarea by moving the local edits past it, and the cursor is
// moved with the text around it, never reset.
"use strict";
const ta = document.querySelector("#note");
let shadow = "";
let busy = false, stale = false, timer = 0, connected = false;

// diff is the one edit that turns a into b (prefix and suffix kept).
function diff(a, b) {
  let p = 0;
  while (p < a.length && p < b.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  return { pos: p, del: a.length - p - s, ins: b.slice(p, b.length - s) };
}

// rebase moves mine (an edit of a base) past theirs (another edit of it),
// as the node does (examples/notes/edit).
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

// sync runs one exchange with the node at a time, until nothing is left:
// local edits to send, or news (a "note.changed" event) to read. One at a
// time, the answers cannot arrive out of order and undo each other.
async function sync() {
  timer = 0;
  if (busy) return;
  busy = true;
  try {
    for (;;) {
      if (ta.value !== shadow) {
        const sent = ta.value;
        const fresh = await call("POST", { base: shadow, text: sent });
        // Keystrokes typed while this was on its way are edits of `sent`.
        merge(sent, fresh);
      } else if (stale) {
        stale = false;
        merge(shadow, await call("GET"));
      } else {
        break;
      }
    }
    setState("");
  } catch (e) {
    setState("Not saved: " + e.message + " (retrying)");
    setTimeout(sync, 1000);
  } finally {
    busy = false;
  }
}

async function call(method, body) {
  const r = await fetch("/api/note", body ? { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) } : {});
  if (!r.ok) throw new Error(await r.text());
  return (await r.json()).text;
}

function schedule() {
  if (!timer) timer = setTimeout(sync, 30);
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
const news = () => { stale = true; sync(); };
es.onopen = () => { connected = true; setState(""); news(); };
es.addEventListener("note.changed", news);
es.onerror = () => { connected = false; setState(""); };
