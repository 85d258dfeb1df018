// The console's item browser and editor: Scan/Query pages, DynamoDB JSON edits.
//
// Pages follow LastEvaluatedKey (a stack of ExclusiveStartKeys, so Previous works);
// Query builds a KeyConditionExpression from the partition key value and an optional
// sort key condition, with placeholder names and values so any attribute name works.
// The editor writes with PutItem and DeleteItem through the public API and shows a
// refused write as the server's exception name and message. `apply(record)` updates a
// row already shown for the record's key where it stands (the live part).
import { call } from "./ddb.js";
import { canonical, keyOf, tree } from "./values.js";

function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content != null) node.textContent = content;
  return node;
}

function keyNamesOf(schema) {
  const hash = schema.find((k) => k.KeyType === "HASH")?.AttributeName;
  const range = schema.find((k) => k.KeyType === "RANGE")?.AttributeName;
  return [hash, range].filter(Boolean);
}

export class ItemBrowser {
  constructor(nodes) {
    this.nodes = nodes;
    this.description = null;
    this.pages = [undefined]; // ExclusiveStartKey of each page seen
    this.page = 0;
    this.lastKey = undefined;
    this.items = []; // the items of the page shown
    this.rows = new Map(); // canonical key -> tr
    this.columns = [];
    this.editing = null; // the key (canonical) of the item in the editor, or null for a new one
    this.deleteArmed = false;
    nodes.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.first();
    });
    nodes.mode.addEventListener("change", () => this.updateForm());
    nodes.index.addEventListener("change", () => this.updateForm());
    nodes.skOp.addEventListener("change", () => this.updateForm());
    nodes.next.addEventListener("click", () => this.load(this.page + 1));
    nodes.prev.addEventListener("click", () => this.load(this.page - 1));
    nodes.newItem.addEventListener("click", () => this.edit(null));
    nodes.save.addEventListener("click", () => this.save());
    nodes.delete.addEventListener("click", () => this.remove());
    nodes.closeEditor.addEventListener("click", () => this.closeEditor());
  }

  get table() {
    return this.description?.TableName ?? "";
  }

  get keyNames() {
    return keyNamesOf(this.description?.KeySchema || []);
  }

  /** Show `description` (DescribeTable's Table) and read its first page. */
  open(description) {
    this.ticket = (this.ticket ?? 0) + 1; // a read still in flight for another table is dropped
    this.description = description;
    this.showError(null);
    this.nodes.tableName.textContent = description ? `· ${description.TableName}` : "";
    const index = this.nodes.index;
    index.replaceChildren(new Option("(table)", ""));
    for (const kind of ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"]) {
      for (const ix of description?.[kind] || []) index.add(new Option(ix.IndexName, ix.IndexName));
    }
    this.closeEditor();
    this.updateForm();
    this.nodes.newItem.disabled = !description;
    this.rows.clear();
    this.items = [];
    this.nodes.items.tHead.replaceChildren();
    this.nodes.items.tBodies[0].replaceChildren();
    if (description) this.first();
  }

  schemaInUse() {
    const name = this.nodes.index.value;
    if (!name) return this.description.KeySchema;
    for (const kind of ["GlobalSecondaryIndexes", "LocalSecondaryIndexes"]) {
      const ix = (this.description[kind] || []).find((i) => i.IndexName === name);
      if (ix) return ix.KeySchema;
    }
    return this.description.KeySchema;
  }

  typeOf(name) {
    return (this.description.AttributeDefinitions || []).find((a) => a.AttributeName === name)?.AttributeType || "S";
  }

  updateForm() {
    const query = this.nodes.mode.value === "Query";
    this.nodes.keyCondition.hidden = !query;
    if (!this.description) return;
    const [hash, range] = keyNamesOf(this.schemaInUse());
    this.nodes.pkName.textContent = `${hash} (${this.typeOf(hash)})`;
    this.nodes.skName.textContent = range ? `${range} (${this.typeOf(range)})` : "no sort key";
    this.nodes.skOp.disabled = !range;
    this.nodes.skValue.hidden = !range || !this.nodes.skOp.value;
    this.nodes.skValue2.hidden = !range || this.nodes.skOp.value !== "between";
  }

  request(startKey) {
    const params = { TableName: this.table };
    const limit = Number(this.nodes.limit.value);
    if (Number.isInteger(limit) && limit > 0) params.Limit = limit;
    if (this.nodes.index.value) params.IndexName = this.nodes.index.value;
    if (startKey) params.ExclusiveStartKey = startKey;
    if (this.nodes.mode.value !== "Query") return ["Scan", params];
    const [hash, range] = keyNamesOf(this.schemaInUse());
    const typed = (name, text) => ({ [this.typeOf(name)]: text });
    const names = { "#pk": hash };
    const values = { ":pk": typed(hash, this.nodes.pkValue.value) };
    let condition = "#pk = :pk";
    const op = this.nodes.skOp.value;
    if (range && op) {
      names["#sk"] = range;
      values[":sk"] = typed(range, this.nodes.skValue.value);
      if (op === "begins_with") condition += " AND begins_with(#sk, :sk)";
      else if (op === "between") {
        values[":sk2"] = typed(range, this.nodes.skValue2.value);
        condition += " AND #sk BETWEEN :sk AND :sk2";
      } else condition += ` AND #sk ${op} :sk`;
    }
    Object.assign(params, {
      KeyConditionExpression: condition,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
    return ["Query", params];
  }

  first() {
    this.pages = [undefined];
    return this.load(0);
  }

  async load(page) {
    if (!this.description || page < 0 || page >= this.pages.length) return;
    const [operation, params] = this.request(this.pages[page]);
    const ticket = (this.ticket = (this.ticket ?? 0) + 1); // only the latest read renders
    this.showError(null);
    this.nodes.pageInfo.textContent = "reading…";
    let answer;
    try {
      answer = await call(operation, params);
      if (ticket !== this.ticket) return;
    } catch (error) {
      if (ticket !== this.ticket) return;
      this.showError(error.message);
      this.nodes.pageInfo.textContent = "";
      return;
    }
    this.page = page;
    this.lastKey = answer.LastEvaluatedKey;
    if (this.lastKey) this.pages[page + 1] = this.lastKey;
    this.pages.length = this.lastKey ? page + 2 : page + 1;
    this.show(answer.Items || []);
    const count = (answer.Items || []).length;
    this.nodes.pageInfo.textContent = `page ${page + 1} · ${count} item${count === 1 ? "" : "s"}${this.lastKey ? " · more" : ""}`;
    this.nodes.prev.disabled = page === 0;
    this.nodes.next.disabled = !this.lastKey;
    this.nodes.items.dataset.page = String(page + 1);
    this.nodes.items.dataset.operation = operation;
  }

  showError(text) {
    this.nodes.error.hidden = text == null;
    this.nodes.error.textContent = text ?? "";
  }

  show(items) {
    this.items = items;
    this.rows.clear();
    const body = this.nodes.items.tBodies[0];
    body.replaceChildren();
    this.columns = [];
    this.updateColumns(items);
    for (const item of items) {
      const tr = el("tr");
      tr.tabIndex = 0;
      tr.addEventListener("click", () => this.edit(tr.item ?? null));
      tr.addEventListener("keydown", (event) => {
        if (event.key === "Enter") this.edit(tr.item ?? null);
      });
      this.fillRow(tr, item);
      this.rows.set(tr.dataset.key, tr);
      body.append(tr);
    }
  }

  /** Add any attribute of `items` not yet a column (key attributes first); true if any. */
  updateColumns(items) {
    const before = this.columns.length;
    if (!before) this.columns.push(...this.keyNames);
    for (const item of items) for (const name of Object.keys(item)) if (!this.columns.includes(name)) this.columns.push(name);
    if (this.columns.length === before) return false;
    const head = el("tr");
    for (const name of this.columns) head.append(el("th", this.keyNames.includes(name) ? "key" : "", name));
    this.nodes.items.tHead.replaceChildren(head);
    return true;
  }

  fillRow(tr, item) {
    tr.item = item;
    tr.dataset.key = keyOf(item, this.keyNames);
    const cells = this.columns.map((name) => {
      const td = el("td", this.keyNames.includes(name) ? "key" : "");
      td.dataset.label = name;
      td.dataset.attribute = name;
      if (name in item) {
        const box = el("div", "cell");
        box.append(tree(item[name], 1));
        td.append(box);
      }
      return td;
    });
    tr.replaceChildren(...cells);
  }

  /** A change record of this table: rewrite the row shown for its key, where it stands. */
  apply(record) {
    const info = record.dynamodb || {};
    const key = canonical(info.Keys || {});
    const tr = this.rows.get(key);
    if (tr) {
      tr.classList.remove("stale");
      if (record.eventName === "REMOVE") {
        tr.classList.add("removed");
        tr.title = "deleted";
      } else if (!info.NewImage) {
        // KEYS_ONLY and OLD_IMAGE streams carry no new values: say the row is out of date
        tr.classList.add("stale");
        tr.title = "changed on the server: Run to read it again";
      } else {
        tr.classList.remove("removed");
        tr.title = "";
        if (this.updateColumns([info.NewImage])) for (const row of this.rows.values()) this.fillRow(row, row.item);
        this.fillRow(tr, info.NewImage);
      }
      tr.classList.remove("updated");
      void tr.offsetWidth; // restart the flash
      tr.classList.add("updated");
      tr.dataset.sequenceNumber = info.SequenceNumber;
    }
    // a record of the item being edited with other values than the editor holds (the
    // echo of the editor's own save, or of the write it was opened on, is no news)
    if (
      this.editing === key &&
      record.eventName !== "REMOVE" &&
      info.NewImage &&
      canonical(info.NewImage) !== this.editingImage
    ) {
      this.nodes.editorStatus.textContent = `changed on the server at #${info.SequenceNumber}`;
    }
  }

  edit(item) {
    const template = {};
    for (const name of this.keyNames) template[name] = { [this.typeOf(name)]: "" };
    const shown = item ?? template;
    this.editing = item ? keyOf(item, this.keyNames) : null;
    this.editingImage = item ? canonical(item) : null;
    this.deleteArmed = false;
    this.nodes.delete.textContent = "Delete (DeleteItem)";
    this.nodes.delete.disabled = !item;
    this.nodes.editorTitle.textContent = item ? "Item" : "New item";
    this.nodes.json.value = JSON.stringify(shown, null, 2);
    this.nodes.tree.replaceChildren(tree({ M: shown }, 3));
    this.nodes.editorStatus.textContent = "";
    this.showEditorError(null);
    this.nodes.editor.hidden = false;
  }

  closeEditor() {
    this.editing = null;
    this.nodes.editor.hidden = true;
  }

  showEditorError(text) {
    this.nodes.editorError.hidden = text == null;
    this.nodes.editorError.textContent = text ?? "";
  }

  parsed() {
    try {
      const item = JSON.parse(this.nodes.json.value);
      if (!item || typeof item !== "object" || Array.isArray(item)) throw new Error("an item is a JSON object");
      return item;
    } catch (error) {
      this.showEditorError(`not DynamoDB JSON: ${error.message}`);
      return null;
    }
  }

  async save() {
    const item = this.parsed();
    if (!item) return;
    this.showEditorError(null);
    this.nodes.editorStatus.textContent = "saving…";
    try {
      await call("PutItem", { TableName: this.table, Item: item });
    } catch (error) {
      this.nodes.editorStatus.textContent = "";
      this.showEditorError(error.message);
      return;
    }
    this.editing = keyOf(item, this.keyNames);
    this.editingImage = canonical(item);
    this.nodes.delete.disabled = false;
    this.nodes.tree.replaceChildren(tree({ M: item }, 3));
    this.nodes.editorStatus.textContent = "saved";
    const tr = this.rows.get(this.editing);
    if (tr) {
      if (this.updateColumns([item])) for (const row of this.rows.values()) this.fillRow(row, row.item);
      this.fillRow(tr, item);
      tr.classList.remove("removed");
    }
  }

  async remove() {
    if (!this.deleteArmed) {
      this.deleteArmed = true;
      this.nodes.delete.textContent = "Really delete?";
      return;
    }
    const item = this.parsed();
    if (!item) return;
    const key = {};
    for (const name of this.keyNames) key[name] = item[name];
    this.showEditorError(null);
    try {
      await call("DeleteItem", { TableName: this.table, Key: key });
    } catch (error) {
      this.showEditorError(error.message);
      return;
    }
    this.rows.get(keyOf(item, this.keyNames))?.classList.add("removed");
    this.deleteArmed = false;
    this.nodes.delete.textContent = "Delete (DeleteItem)";
    this.nodes.delete.disabled = true;
    this.nodes.editorStatus.textContent = "deleted";
  }
}
