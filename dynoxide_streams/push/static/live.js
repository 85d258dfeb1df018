// The local console (/_streams/live): tables, items and the live change feed.
//
// Modules: ddb.js (the DynamoDB API over fetch), tables.js (table list), items.js
// (Scan/Query pages and the DynamoDB JSON editor), feed.js (the change feed over
// /_streams/client.js), values.js (AttributeValues as trees). The table menu lists the
// tables the push endpoint serves (GET /_streams/tables, which a sidecar answers too);
// the table and item panels use the DynamoDB API and are switched off, with the
// server's own answer as the note, where it is refused (a sidecar).
import { ItemBrowser } from "./items.js";
import { Feed } from "./feed.js";
import { loadTables } from "./tables.js";
import { describe } from "./ddb.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const TOKEN_KEY = "dynoxide-streams:token";
if (params.get("token")) sessionStorage.setItem(TOKEN_KEY, params.get("token"));
const token = sessionStorage.getItem(TOKEN_KEY) || "";

const tableSelect = $("table");
const fromSelect = $("from");
let described = new Map(); // table name -> DescribeTable (+ TTL), when the API is served
let apiServed = true;

const items = new ItemBrowser({
  form: $("query-form"),
  mode: $("mode"),
  index: $("index"),
  keyCondition: $("key-condition"),
  pkName: $("pk-name"),
  pkValue: $("pk-value"),
  skName: $("sk-name"),
  skOp: $("sk-op"),
  skValue: $("sk-value"),
  skValue2: $("sk-value2"),
  limit: $("limit"),
  prev: $("prev"),
  next: $("next"),
  pageInfo: $("page-info"),
  newItem: $("new-item"),
  error: $("items-error"),
  items: $("items"),
  tableName: $("items-table"),
  editor: $("editor"),
  editorTitle: $("editor-title"),
  tree: $("item-tree"),
  json: $("item-json"),
  save: $("save"),
  delete: $("delete"),
  closeEditor: $("close-editor"),
  editorStatus: $("editor-status"),
  editorError: $("editor-error"),
});

const feed = new Feed(
  {
    feed: $("feed"),
    empty: $("empty"),
    error: $("feed-error"),
    note: $("feed-note"),
    pause: $("pause"),
    filterKey: $("filter-key"),
    filterEvent: $("filter-event"),
    perKey: $("per-key"),
    clear: $("clear"),
  },
  {
    onRecord: (record, table) => {
      if (table === items.table) items.apply(record);
    },
    onStatus: (status) => ($("status").textContent = status),
  },
);

function select(name) {
  if (tableSelect.value === name) return;
  if (![...tableSelect.options].some((o) => o.value === name)) tableSelect.add(new Option(name, name));
  tableSelect.value = name;
  changed();
}

function changed() {
  const table = tableSelect.value;
  document.body.dataset.table = table;
  const url = new URL(location.href);
  if (table) url.searchParams.set("table", table);
  else url.searchParams.delete("table");
  url.searchParams.delete("token"); // kept in sessionStorage, not in the address bar
  history.replaceState(null, "", url);
  for (const li of $("tables").children) li.classList.toggle("selected", li.dataset.table === table);
  if (apiServed) openItems(table);
  const sub = feed.start(table, fromSelect.value, token);
  $("role").textContent = sub ? `this tab: ${sub.role}` : "";
  if (sub) sub.options.onRole = (role) => ($("role").textContent = `this tab: ${role}`);
}

async function openItems(table) {
  // a table created after the list was read is described when it is chosen
  if (table && !described.has(table)) {
    try {
      described.set(table, await describe(table));
    } catch (error) {
      items.open(null);
      $("items-error").textContent = error.message;
      $("items-error").hidden = false;
      return;
    }
  }
  if (tableSelect.value === table) items.open(described.get(table) ?? null);
}

async function loadFeedTables() {
  // the tables the push endpoint serves (in sidecar mode: the watched upstream tables)
  const response = await fetch("/_streams/tables");
  const data = await response.json();
  if (!response.ok) throw new Error(`tables: ${data.message || response.status}`);
  return data.TableNames;
}

function disableApi(error) {
  apiServed = false;
  document.body.dataset.api = "refused";
  for (const id of ["tables-panel", "items-panel"]) $(id).classList.add("disabled");
  $("query-fields").disabled = true;
  const sidecar = error.name === "UnknownOperationException";
  $("api-note").textContent = sidecar
    ? `Table and item browsing is off: this server refuses the DynamoDB API (${error.message}). ` +
      "A sidecar serves the change feed and triggers only; browse tables with the upstream engine. " +
      "The change feed works."
    : `Table and item browsing is off: ListTables was refused (${error.message}). ` +
      "The console sends unsigned requests; a server started with --credentials refuses them. " +
      "The change feed works.";
  $("api-note").hidden = false;
  $("items-note").textContent = sidecar
    ? "Off on a sidecar: it refuses the DynamoDB API (the note under Tables says why)."
    : "Off: ListTables was refused (the note under Tables says why).";
  $("items-note").hidden = false;
}

async function refresh() {
  $("tables-error").hidden = true;
  let names = [];
  try {
    names = await loadFeedTables();
  } catch (error) {
    $("status").textContent = error.message;
  }
  if (apiServed) {
    try {
      described = await loadTables($("tables"), select);
      document.body.dataset.api = "served";
    } catch (error) {
      if (error.name === "UnknownOperationException" || error.status === 400 || error.status === 403) disableApi(error);
      else {
        $("tables-error").textContent = error.message;
        $("tables-error").hidden = false;
      }
    }
  }
  const wanted = tableSelect.value || params.get("table");
  const all = [...new Set([...names, ...described.keys()])].sort();
  tableSelect.replaceChildren(new Option("(choose a table)", ""));
  for (const name of all) tableSelect.add(new Option(name, name));
  if (wanted && all.includes(wanted)) tableSelect.value = wanted;
  for (const li of $("tables").children) li.classList.toggle("selected", li.dataset.table === tableSelect.value);
  if (tableSelect.value !== feed.table || feed.ended) changed(); // Refresh retries an ended feed
  else if (apiServed && tableSelect.value) items.description = described.get(tableSelect.value) ?? items.description;
  document.body.dataset.ready = "true";
}

tableSelect.addEventListener("change", changed);
fromSelect.addEventListener("change", changed);
$("refresh").addEventListener("click", () => refresh());
refresh();
