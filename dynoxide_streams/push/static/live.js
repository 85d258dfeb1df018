// The live-feed page: pick a table, watch its change records arrive.
import { subscribe } from "/_streams/client.js";

const $ = (id) => document.getElementById(id);
const tableSelect = $("table");
const fromSelect = $("from");
const feed = $("feed");
let current = null;

async function loadTables() {
  // the tables this server's push endpoint serves (in sidecar mode: the watched
  // upstream tables, which a DynamoDB ListTables sent here would not list)
  const response = await fetch("/_streams/tables");
  const data = await response.json();
  if (!response.ok) throw new Error(`tables: ${data.message || response.status}`);
  const names = data.TableNames;
  const wanted = new URLSearchParams(location.search).get("table") || tableSelect.value;
  tableSelect.replaceChildren(new Option("(choose a table)", ""));
  for (const name of names) tableSelect.add(new Option(name, name));
  if (wanted && names.includes(wanted)) tableSelect.value = wanted;
  if (tableSelect.value !== (current?.options.table ?? "")) start();
}

function show(value) {
  // One DynamoDB AttributeValue as short text.
  if (value == null) return "";
  const [type, inner] = Object.entries(value)[0];
  if (type === "NULL") return "null";
  if (type === "M") return JSON.stringify(Object.fromEntries(Object.entries(inner).map(([k, v]) => [k, show(v)])));
  if (type === "L") return JSON.stringify(inner.map(show));
  if (Array.isArray(inner)) return `${type}[${inner.join(", ")}]`;
  return type === "S" ? JSON.stringify(inner) : String(inner);
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function render(record) {
  const info = record.dynamodb || {};
  const oldImage = info.OldImage || {};
  const newImage = info.NewImage || {};
  const keys = info.Keys || {};
  const li = document.createElement("li");
  li.className = `record ${record.eventName}`;
  li.dataset.sequenceNumber = info.SequenceNumber;
  li.dataset.eventName = record.eventName;
  const head = document.createElement("div");
  head.className = "head";
  const event = document.createElement("span");
  event.className = "event";
  event.textContent = record.eventName;
  const key = document.createElement("span");
  key.textContent = Object.entries(keys).map(([k, v]) => `${k}=${show(v)}`).join(" ");
  const seqNo = document.createElement("span");
  seqNo.className = "seq";
  seqNo.textContent = `#${info.SequenceNumber} · ${info.StreamViewType || ""}`;
  head.append(event, key, seqNo);
  li.append(head);
  const names = [...new Set([...Object.keys(keys), ...Object.keys(oldImage), ...Object.keys(newImage)])];
  if (Object.keys(oldImage).length || Object.keys(newImage).length) {
    const table = document.createElement("table");
    const header = table.insertRow();
    for (const title of ["attribute", "old", "new"]) {
      const th = document.createElement("th");
      th.textContent = title;
      header.append(th);
    }
    for (const name of names) {
      const before = show(oldImage[name]);
      const after = show(newImage[name]);
      const changed = before !== after;
      const row = table.insertRow();
      row.append(
        cell(name, name in keys ? "key" : ""),
        cell(before, changed && name in oldImage ? "old" : "same"),
        cell(after, changed && name in newImage ? "new" : "same"),
      );
    }
    li.append(table);
  }
  feed.prepend(li);
  while (feed.children.length > 500) feed.lastChild.remove();
  $("empty").hidden = true;
}

function start() {
  current?.close();
  current = null;
  feed.replaceChildren();
  $("empty").hidden = false;
  const table = tableSelect.value;
  if (!table) {
    $("status").textContent = "idle";
    $("role").textContent = "";
    return;
  }
  $("status").textContent = "connecting…";
  current = subscribe(
    {
      table,
      from: fromSelect.value,
      onStatus: (status) => ($("status").textContent = status),
      onRole: (role) => ($("role").textContent = `this tab: ${role}`),
      onEvent: (event) => {
        $("status").textContent = event.type === "error" ? `error: ${event.message}` : event.type;
      },
    },
    render,
  );
  $("role").textContent = `this tab: ${current.role}`;
  document.body.dataset.table = table;
}

tableSelect.addEventListener("change", start);
fromSelect.addEventListener("change", start);
$("refresh").addEventListener("click", () => loadTables().catch((e) => ($("status").textContent = e.message)));
loadTables().catch((e) => ($("status").textContent = e.message));
