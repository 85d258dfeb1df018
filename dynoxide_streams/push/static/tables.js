// The console's table list: key schema, indexes, stream and TTL status of every table.
//
// Read with ListTables, DescribeTable and DescribeTimeToLive (the public API). A server
// that refuses the API — a sidecar answers UnknownOperationException, a server started
// with --credentials refuses the console's unsigned calls — is reported as it answered.
import { describe, listTables } from "./ddb.js";

/** Tables described up front (two calls each); later ones are described when chosen. */
export const DESCRIBE_LIMIT = 100;

function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content != null) node.textContent = content;
  return node;
}

export function keySchemaText(schema, definitions) {
  const types = Object.fromEntries((definitions || []).map((d) => [d.AttributeName, d.AttributeType]));
  return (schema || [])
    .map((k) => `${k.AttributeName} (${types[k.AttributeName] || "?"}, ${k.KeyType === "HASH" ? "partition" : "sort"})`)
    .join(" · ");
}

function indexText(ix, definitions) {
  const projection = ix.Projection?.ProjectionType || "";
  const status = ix.IndexStatus && ix.IndexStatus !== "ACTIVE" ? ` [${ix.IndexStatus}]` : "";
  return `${ix.IndexName}: ${keySchemaText(ix.KeySchema, definitions)} · ${projection}${status}`;
}

function streamText(table) {
  const spec = table.StreamSpecification;
  return spec?.StreamEnabled ? `on · ${spec.StreamViewType}` : "off";
}

function ttlText(table) {
  if (table.ttlError) return `${table.ttlError.message}`;
  const ttl = table.TimeToLiveDescription || {};
  const status = ttl.TimeToLiveStatus || "DISABLED";
  return ttl.AttributeName ? `${status} · ${ttl.AttributeName}` : status;
}

function card(table, onSelect) {
  const li = el("li", "card");
  li.dataset.table = table.TableName;
  li.tabIndex = 0;
  li.append(el("div", "name", table.TableName));
  const dl = el("dl");
  const row = (name, value, cls) => {
    const dd = el("dd", cls, value);
    dl.append(el("dt", "", name), dd);
  };
  row("key", keySchemaText(table.KeySchema, table.AttributeDefinitions), "keys");
  const indexes = [
    ...(table.GlobalSecondaryIndexes || []).map((ix) => `GSI ${indexText(ix, table.AttributeDefinitions)}`),
    ...(table.LocalSecondaryIndexes || []).map((ix) => `LSI ${indexText(ix, table.AttributeDefinitions)}`),
  ];
  row("indexes", indexes.length ? indexes.join("\n") : "none", "indexes");
  row("stream", streamText(table), "stream");
  row("TTL", ttlText(table), "ttl");
  row("items", `${table.ItemCount ?? "?"} · ${table.TableStatus}`, "count");
  li.append(dl);
  li.addEventListener("click", () => onSelect(table.TableName));
  li.addEventListener("keydown", (event) => {
    if (event.key === "Enter") onSelect(table.TableName);
  });
  return li;
}

/**
 * Fill `list` with one card per table. Resolves to {tables: Map name -> description}
 * or rejects with the ApiError of ListTables (the API is refused or unavailable).
 */
export async function loadTables(list, onSelect) {
  const names = await listTables();
  const described = await Promise.all(
    names
      .slice(0, DESCRIBE_LIMIT)
      .map((name) => describe(name).catch((error) => ({ TableName: name, error }))),
  );
  const tables = new Map();
  const cards = [];
  for (const table of described) {
    if (table.error) {
      const li = el("li", "card");
      li.dataset.table = table.TableName;
      li.append(el("div", "name", table.TableName), el("p", "error", table.error.message));
      cards.push(li);
      continue;
    }
    tables.set(table.TableName, table);
    cards.push(card(table, onSelect));
  }
  for (const name of names.slice(DESCRIBE_LIMIT)) {
    const li = el("li", "card");
    li.dataset.table = name;
    li.tabIndex = 0;
    li.append(el("div", "name", name), el("p", "muted", `described when chosen (more than ${DESCRIBE_LIMIT} tables)`));
    li.addEventListener("click", () => onSelect(name));
    cards.push(li);
  }
  list.replaceChildren(...cards);
  return tables;
}
