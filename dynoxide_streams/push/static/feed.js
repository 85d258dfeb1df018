// The console's change feed: one table's change records, newest first.
//
// Each record is a row with its event, key, time (ApproximateCreationDateTime),
// SequenceNumber and an attribute-by-attribute old/new diff whose values are trees.
// Pause buffers records (at most MAX_BUFFERED; older ones are counted and dropped),
// filters hide rows by key text or event name, and in "one row per key" mode a record
// for a key already shown rewrites that row where it stands. An `error` frame (such as
// the one for a table without a stream) is shown with the server's code and message, and
// the subscription stops instead of retrying behind a "disconnected" status (`ended`;
// the page's Refresh starts it again).
import { subscribe } from "/_streams/client.js";
import { attributeNames, canonical, keyText, tree } from "./values.js";

const MAX_ROWS = 500;
const MAX_BUFFERED = 1000;

function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content != null) node.textContent = content;
  return node;
}

/** The record's time as a Date (ApproximateCreationDateTime: epoch seconds), or null. */
export function recordTime(record) {
  const seconds = Number(record?.dynamodb?.ApproximateCreationDateTime);
  return Number.isFinite(seconds) ? new Date(seconds * 1000) : null;
}

function timeText(date) {
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function diffTable(keys, oldImage, newImage) {
  // an INSERT has no old side and a REMOVE no new side: their column is left out
  const sides = [];
  if (Object.keys(oldImage).length) sides.push("old");
  if (Object.keys(newImage).length) sides.push("new");
  const table = el("table", `diff sides-${sides.length}`);
  const cols = el("colgroup");
  cols.append(el("col", "name"), ...sides.map(() => el("col")));
  table.append(cols);
  const header = table.createTHead().insertRow();
  for (const title of ["attribute", ...sides]) header.append(el("th", "", title));
  const body = table.createTBody();
  for (const name of attributeNames(Object.keys(keys), oldImage, newImage)) {
    const before = oldImage[name];
    const after = newImage[name];
    const changed = canonical(before ?? null) !== canonical(after ?? null);
    const row = body.insertRow();
    row.dataset.attribute = name;
    row.append(el("td", name in keys ? "key" : "", name));
    if (sides.includes("old")) {
      const oldCell = el("td", changed && name in oldImage ? "old" : "same");
      if (before !== undefined) oldCell.append(tree(before));
      row.append(oldCell);
    }
    if (sides.includes("new")) {
      const newCell = el("td", changed && name in newImage ? "new" : "same");
      if (after !== undefined) newCell.append(tree(after));
      row.append(newCell);
    }
  }
  return table;
}

/** Fill `li` (new or reused) with one record's rendering. */
function fill(li, record, count) {
  const info = record.dynamodb || {};
  const keys = info.Keys || {};
  li.className = `record ${record.eventName}`;
  li.dataset.sequenceNumber = info.SequenceNumber;
  li.dataset.eventName = record.eventName;
  li.dataset.key = canonical(keys);
  li.dataset.keyText = keyText(keys);
  const head = el("div", "head");
  head.append(el("span", "event", record.eventName), el("span", "keytext", keyText(keys)));
  const when = recordTime(record);
  if (when) {
    const time = el("time", "", timeText(when));
    time.dateTime = when.toISOString();
    time.title = when.toISOString();
    head.append(time);
  }
  head.append(el("span", "seq", `#${info.SequenceNumber} · ${info.StreamViewType || ""}`));
  if (count > 1) head.append(el("span", "count", `${count} changes`));
  const parts = [head];
  const oldImage = info.OldImage || {};
  const newImage = info.NewImage || {};
  if (Object.keys(oldImage).length || Object.keys(newImage).length) parts.push(diffTable(keys, oldImage, newImage));
  li.replaceChildren(...parts);
}

export class Feed {
  /** `nodes`: the feed's elements by id; `onRecord(record, table)` sees every record shown or buffered. */
  constructor(nodes, { onRecord, onStatus } = {}) {
    this.nodes = nodes;
    this.onRecord = onRecord;
    this.onStatus = onStatus;
    this.sub = null;
    this.table = "";
    this.paused = false;
    this.buffer = [];
    this.dropped = 0;
    this.byKey = new Map(); // key -> {li, count}, for "one row per key"
    this.subscribedOnce = false;
    this.ended = false; // an error frame, stream_disabled or table_deleted ended the feed
    nodes.pause.addEventListener("click", () => this.setPaused(!this.paused));
    nodes.filterKey.addEventListener("input", () => this.applyFilter());
    nodes.filterEvent.addEventListener("change", () => this.applyFilter());
    nodes.clear.addEventListener("click", () => this.clear());
  }

  status(text) {
    this.onStatus?.(text);
  }

  clear() {
    this.nodes.feed.replaceChildren();
    this.byKey.clear();
    this.nodes.empty.hidden = false;
  }

  /** Subscribe to `table` from `from` ("LATEST" | "TRIM_HORIZON"); "" stops. */
  start(table, from, token) {
    this.sub?.close();
    this.sub = null;
    this.table = table;
    this.buffer = [];
    this.dropped = 0;
    this.subscribedOnce = false;
    this.ended = false;
    this.clear();
    this.showError(null);
    this.note(null);
    this.setPaused(false);
    if (!table) {
      this.status("idle");
      return null;
    }
    this.status("connecting…");
    const sub = subscribe(
      {
        table,
        from,
        token: token || undefined,
        onStatus: (status) => {
          if (this.sub !== sub) return;
          if (status === "subscribed") {
            this.subscribedOnce = true;
            this.note(null);
          } else if (status === "disconnected" && !this.subscribedOnce) {
            this.note(
              "The push websocket was refused or closed before subscribing. If the server was " +
                "started with --token, open this page as /_streams/live?token=YOUR_TOKEN.",
            );
          }
          this.status(status);
        },
        onEvent: (event) => this.event(sub, event),
      },
      (record) => {
        if (this.sub === sub) this.receive(record);
      },
    );
    this.sub = sub;
    return sub;
  }

  event(sub, event) {
    if (this.sub !== sub) return;
    if (event.type === "error") {
      // shown as the server sent it; retrying would only repeat it behind "disconnected"
      this.showError(`${event.code}: ${event.message}`);
      this.status("error");
      this.ended = true;
      sub.close();
    } else if (event.type === "trimmed") {
      this.note(`trimmed: ${event.message || "the feed fell behind the stream's retention"}`);
    } else if (event.type === "stream_disabled") {
      this.note("The table's stream was disabled; the feed has ended.");
      this.status("ended");
      this.ended = true;
    } else if (event.type === "table_deleted") {
      this.note("The table was deleted; the feed has ended.");
      this.status("ended");
      this.ended = true;
    }
  }

  showError(text) {
    this.nodes.error.hidden = text == null;
    this.nodes.error.textContent = text ?? "";
  }

  note(text) {
    this.nodes.note.hidden = text == null;
    this.nodes.note.textContent = text ?? "";
  }

  setPaused(paused) {
    this.paused = paused;
    if (!paused) {
      const waiting = this.buffer;
      this.buffer = [];
      if (this.dropped) this.note(`${this.dropped} records were dropped while paused (more than ${MAX_BUFFERED} waited).`);
      this.dropped = 0;
      for (const record of waiting) this.render(record);
    }
    this.updatePauseButton();
  }

  updatePauseButton() {
    this.nodes.pause.textContent = this.paused ? `Resume (${this.buffer.length + this.dropped} waiting)` : "Pause";
    this.nodes.pause.setAttribute("aria-pressed", String(this.paused));
  }

  receive(record) {
    this.onRecord?.(record, this.table);
    if (this.paused) {
      this.buffer.push(record);
      if (this.buffer.length > MAX_BUFFERED) {
        this.buffer.shift();
        this.dropped += 1;
      }
      this.updatePauseButton();
      return;
    }
    this.render(record);
  }

  render(record) {
    const key = canonical(record.dynamodb?.Keys || {});
    const known = this.nodes.perKey.checked ? this.byKey.get(key) : undefined;
    if (known && known.li.isConnected) {
      known.count += 1;
      fill(known.li, record, known.count);
      known.li.classList.add("updated");
      this.applyFilter(known.li);
      return;
    }
    const li = el("li");
    fill(li, record, 1);
    this.byKey.set(key, { li, count: 1 });
    this.applyFilter(li);
    const feed = this.nodes.feed;
    feed.prepend(li);
    while (feed.children.length > MAX_ROWS) {
      const last = feed.lastElementChild;
      if (this.byKey.get(last.dataset.key)?.li === last) this.byKey.delete(last.dataset.key);
      last.remove();
    }
    this.nodes.empty.hidden = true;
  }

  /** Hide rows that do not match the key filter and event filter (one row, or all). */
  applyFilter(only) {
    const needle = this.nodes.filterKey.value.trim().toLowerCase();
    const eventName = this.nodes.filterEvent.value;
    const rows = only ? [only] : this.nodes.feed.children;
    for (const li of rows) {
      li.hidden =
        (eventName && li.dataset.eventName !== eventName) ||
        (needle && !li.dataset.keyText.toLowerCase().includes(needle));
    }
  }
}
