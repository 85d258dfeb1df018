// DynamoDB AttributeValues for people: readable trees, one-line text, canonical keys.
//
// Pure functions over DynamoDB JSON ({"S": "x"}, {"M": {...}}, ...) that build DOM
// nodes with textContent only (never innerHTML), so a value can never inject markup and
// strings are shown as they are — quotes around them, no JSON escaping inside.

/** The type tag and inner value of one AttributeValue ([null, undefined] when absent). */
export function split(value) {
  if (value == null || typeof value !== "object") return [null, undefined];
  const entries = Object.entries(value);
  return entries.length ? entries[0] : [null, undefined];
}

/** One AttributeValue as short one-line text: `"Oslo"`, `31`, `{city, zip}`, `[3 items]`. */
export function text(value) {
  const [type, inner] = split(value);
  switch (type) {
    case null:
      return "";
    case "S":
      return `"${inner}"`;
    case "N":
      return String(inner);
    case "BOOL":
      return String(inner);
    case "NULL":
      return "null";
    case "B":
      return `<binary ${inner}>`;
    case "M":
      return `{${Object.keys(inner).join(", ")}}`;
    case "L":
      return `[${inner.length} item${inner.length === 1 ? "" : "s"}]`;
    case "SS":
      return `⟨${inner.map((s) => `"${s}"`).join(", ")}⟩`;
    case "NS":
    case "BS":
      return `⟨${inner.join(", ")}⟩`;
    default:
      return `${type}?`;
  }
}

function el(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content != null) node.textContent = content;
  return node;
}

/**
 * One AttributeValue as DOM: scalars as a typed span, maps and lists as a tree of
 * nested lists (a <details> that starts open up to `openDepth` levels).
 */
export function tree(value, openDepth = 2, depth = 0) {
  const [type, inner] = split(value);
  if (type !== "M" && type !== "L") {
    const span = el("span", `av av-${type}`, text(value));
    span.title = type ?? "";
    return span;
  }
  const entries = type === "M" ? Object.entries(inner) : inner.map((v, i) => [String(i), v]);
  const details = el("details", `tree tree-${type}`);
  details.open = depth < openDepth;
  details.append(el("summary", "av", type === "M" ? `map · ${entries.length}` : `list · ${entries.length}`));
  const list = el("ul");
  for (const [name, child] of entries) {
    const li = el("li");
    li.append(el("span", type === "M" ? "tree-key" : "tree-index", name), tree(child, openDepth, depth + 1));
    list.append(li);
  }
  details.append(list);
  return details;
}

/** A stable text for comparing AttributeValues (map keys sorted at every level). */
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const names = Object.keys(value).sort();
    return `{${names.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The canonical text of an item's key (`keyNames` picked from `item`, sorted). */
export function keyOf(item, keyNames) {
  const key = {};
  for (const name of keyNames) if (item && name in item) key[name] = item[name];
  return canonical(key);
}

/** A key as short text for people: `pk="alice" sk=1`. */
export function keyText(keys) {
  return Object.entries(keys || {})
    .map(([k, v]) => `${k}=${text(v)}`)
    .join(" ");
}

/** Attribute names of the images, key attributes first, each once. */
export function attributeNames(keyNames, ...images) {
  const names = [...keyNames];
  for (const image of images) for (const name of Object.keys(image || {})) if (!names.includes(name)) names.push(name);
  return names;
}
