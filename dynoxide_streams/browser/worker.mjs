// The dedicated worker that runs the dynoxide-streams engine (Python, on Pyodide).
//
// Started by dynoxide-streams.mjs. Loads Pyodide from ./pyodide/ and this package from
// ./python.zip (both beside this file: no CDN, no network after the assets), restores
// the database from OPFS into Pyodide's in-memory filesystem, and runs
// dynoxide_streams.browser.runtime.BrowserEngine. Every commit group is copied to OPFS
// through synchronous access handles (the Mirror calls `sink.write`/`flush`) before
// the Writer acknowledges it. Messages in: {id, op, ...}; out: {id, ok, value|error},
// and {frame} for push frames.

import { loadPyodide } from "./pyodide/pyodide.mjs";

const PACKAGE_ZIP = "/lib/dynoxide-streams.zip";
const ROOT = "dynoxide-streams";
const FILES = ["data.db", "data.db-wal"];

let pyodide = null;
let engine = null;
let handles = null; // name -> FileSystemSyncAccessHandle
let persistence = { kind: "memory", reason: "not opened" };
let failNextSync = false; // test hook: the next flush fails as a full quota would

async function openOpfs(name) {
  if (!globalThis.navigator?.storage?.getDirectory) {
    throw new Error("navigator.storage.getDirectory is not available");
  }
  const root = await navigator.storage.getDirectory();
  const top = await root.getDirectoryHandle(ROOT, { create: true });
  const dir = await top.getDirectoryHandle(encodeURIComponent(name), { create: true });
  const opened = {};
  try {
    for (const file of FILES) {
      const handle = await dir.getFileHandle(file, { create: true });
      if (typeof handle.createSyncAccessHandle !== "function") {
        throw new Error("FileSystemFileHandle.createSyncAccessHandle is not available");
      }
      opened[file] = await handle.createSyncAccessHandle();
    }
  } catch (error) {
    for (const h of Object.values(opened)) h.close();
    throw error;
  }
  return opened;
}

function readAll(handle) {
  const size = handle.getSize();
  const data = new Uint8Array(size);
  if (size) handle.read(data, { at: 0 });
  return data;
}

/** An Error (not a DOMException, which Pyodide reports as "a value of type object
 * was thrown") named QuotaExceededError, as the engine's refusal quotes it. */
function quotaError(message) {
  return Object.assign(new Error(message), { name: "QuotaExceededError" });
}

const sink = {
  write(name, offset, data) {
    const bytes = data.toJs ? data.toJs() : data;
    if (data.destroy) data.destroy();
    const written = handles[name].write(bytes, { at: offset });
    if (written !== bytes.length) {
      // Chromium answers a write past the origin's quota with a bogus count (2^32 - 8
      // measured, no exception) where the spec throws QuotaExceededError
      throw quotaError(`short write to OPFS ${name}: ${written} of ${bytes.length} bytes`);
    }
  },
  truncate(name, size) {
    handles[name].truncate(size);
  },
  flush(name) {
    if (failNextSync) {
      failNextSync = false;
      throw quotaError("the origin's storage quota is exceeded (injected)");
    }
    handles[name].flush();
  },
  restore(name, path) {
    const data = readAll(handles[name]);
    if (data.length) pyodide.FS.writeFile(path, data);
    else if (pyodide.FS.analyzePath(path).exists) pyodide.FS.unlink(path);
  },
};

async function open({ name, clock, from, memory, region, ttlPeriod }) {
  const started = performance.now();
  const base = new URL(".", import.meta.url);
  const [py, zip] = await Promise.all([
    loadPyodide({ indexURL: new URL("./pyodide/", base).href }),
    fetch(new URL("./python.zip", base)).then((r) => {
      if (!r.ok) throw new Error(`python.zip: HTTP ${r.status}`);
      return r.arrayBuffer();
    }),
  ]);
  pyodide = py;
  const loaded = performance.now();
  // imported from the zip (zipimport, .pyc first), as Pyodide imports its stdlib
  pyodide.FS.writeFile(PACKAGE_ZIP, new Uint8Array(zip));
  pyodide.runPython(`import sys; sys.path.insert(0, "${PACKAGE_ZIP}")`);
  const dir = `/data/${encodeURIComponent(name)}`;
  pyodide.FS.mkdirTree(dir);
  if (!memory) {
    try {
      handles = await openOpfs(name);
      persistence = { kind: "opfs" };
    } catch (error) {
      handles = null;
      persistence = { kind: "memory", reason: `${error.name}: ${error.message}` };
    }
  } else {
    persistence = { kind: "memory", reason: "asked for memory" };
  }
  if (from) {
    pyodide.FS.writeFile(`${dir}/data.db`, new Uint8Array(from));
    if (handles) {
      sink.write("data.db", 0, new Uint8Array(from));
      sink.truncate("data.db", from.byteLength);
      sink.truncate("data.db-wal", 0);
      sink.flush("data.db");
      sink.flush("data.db-wal");
    }
  } else if (handles) {
    for (const file of FILES) {
      const data = readAll(handles[file]);
      if (data.length) pyodide.FS.writeFile(`${dir}/${file}`, data);
    }
  }
  const start = pyodide.runPython(`
import asyncio
from pathlib import Path
import anyio
from dynoxide_streams.browser.runtime import BrowserEngine

def start(data_dir, clock, sink, region, ttl_period):
    engine = BrowserEngine(Path(data_dir), clock=clock, sink=sink, region=region,
                           ttl_period=ttl_period)
    loop = asyncio.get_event_loop()
    ready = loop.create_future()
    async def main():
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(engine.run)
                ready.set_result(engine)
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise
    engine.task = asyncio.ensure_future(main())
    return ready
start
`);
  const imported = performance.now();
  engine = await start(dir, clock || "real", handles ? sink : undefined, region || "us-east-1", ttlPeriod ?? 1.0);
  start.destroy();
  engine.on_reopen = () => postMessage({ reopened: true });
  const done = performance.now();
  return {
    persistence,
    startupMs: Math.round(done - started),
    // where start-up goes: Pyodide (fetch, compile, boot), our modules (unpack,
    // OPFS restore, import), the engine (open the database, start its tasks)
    phasesMs: {
      pyodide: Math.round(loaded - started),
      modules: Math.round(imported - loaded),
      engine: Math.round(done - imported),
    },
  };
}

// Flow control of push frames, per subscription: the tab whose subscription it is
// acknowledges every FRAME_ACK_EVERY frames it handled (a follower through the owner
// tab, which relays without acknowledging); past FRAME_WINDOW unacknowledged frames
// that feed's send waits, so a tab that cannot keep up slows its own feed (which then
// reads less: a cursor) instead of queueing frames in any tab without bound.
const FRAME_WINDOW = 128;
const flows = new Map(); // subscription id -> {unacked, waiters}

function frameSender(flow) {
  return (frame) => {
    postMessage({ frame });
    flow.unacked++;
    if (flow.unacked < FRAME_WINDOW) return undefined;
    return new Promise((resolve) => flow.waiters.push(resolve));
  };
}

function framesAcknowledged(id, count) {
  const flow = flows.get(id);
  if (!flow) return;
  flow.unacked = Math.max(0, flow.unacked - count);
  if (flow.unacked < FRAME_WINDOW) {
    const waiters = flow.waiters;
    flow.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

async function subscribe(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    message = {}; // the engine answers the error frame
  }
  const flow = { unacked: 0, waiters: [] };
  const answer = await engine.subscribe(text, frameSender(flow));
  if (message.action === "unsubscribe") flows.delete(message.id);
  else if (JSON.parse(answer).type === "subscribed") flows.set(message.id, flow);
  return answer;
}

const invocations = new Map(); // call id -> {resolve, reject}; each ends by its timeout
const functionTabs = new Map(); // function name -> tabs that declared it, first invoked
let nextCall = 0;

/** Call the page function `name` in the tab that declared it. Rejects after the
 * function's timeout (the engine's, which gives up then too), deleting its entry, so
 * an unanswered call (a tab that went, a handler that never settles) leaves nothing. */
function invokePage(name, event) {
  const call = ++nextCall;
  const timeoutMs = engine.functions.default_timeout * 1000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (invocations.delete(call)) reject(new Error(`${name} did not answer in ${timeoutMs} ms`));
    }, timeoutMs);
    invocations.set(call, {
      resolve: (value) => (clearTimeout(timer), resolve(value)),
      reject: (error) => (clearTimeout(timer), reject(error)),
    });
    postMessage({ invoke: { name, call, event, tab: functionTabs.get(name)?.[0], timeoutMs } });
  });
}

/** A tab went: forget the functions only it declared (their mappings stay, with their
 * checkpoints, and fail until a tab declares them again). */
function forgetTab(tab) {
  const gone = [];
  for (const [name, tabs] of functionTabs) {
    const left = tabs.filter((t) => t !== tab);
    if (left.length) functionTabs.set(name, left);
    else {
      functionTabs.delete(name);
      gone.push(name);
    }
  }
  return gone.length ? engine.forget_functions(gone) : 0;
}

async function call(message) {
  switch (message.op) {
    case "trigger": {
      engine.add_trigger(message.name, message.params, (event) => invokePage(message.name, event));
      const tabs = functionTabs.get(message.name) ?? [];
      if (!tabs.includes(message.tab)) tabs.push(message.tab);
      functionTabs.set(message.name, tabs);
      return true;
    }
    case "forgetTab":
      return forgetTab(message.tab);
    case "pending":
      return { invocations: invocations.size, functions: engine.functions.names().toJs() };
    case "invoked": {
      const waiter = invocations.get(message.call);
      invocations.delete(message.call);
      if (waiter) {
        if (message.ok) waiter.resolve(JSON.stringify(message.value ?? null));
        else waiter.reject(new Error(message.error));
      }
      return true;
    }
    case "open":
      return open(message);
    case "send": {
      const result = await engine.send(message.target, message.body);
      const [status, body] = result.toJs();
      result.destroy();
      return { status, body };
    }
    case "subscribe":
      return subscribe(message.message);
    case "mappings":
      return engine.trigger_mappings();
    case "dropSubscriptions":
      for (const id of flows.keys()) if (id.startsWith(message.prefix)) flows.delete(id);
      return engine.drop_subscriptions(message.prefix);
    case "flow":
      return Object.fromEntries(
        [...flows].map(([id, f]) => [id, { unacked: f.unacked, waiting: f.waiters.length > 0 }]),
      );
    case "failNextSync":
      failNextSync = Boolean(handles);
      return failNextSync;
    case "reopened":
      return engine.reopened;
    case "advance":
      return engine.advance_clock(message.seconds);
    case "sweep":
      return engine.sweep_ttl();
    case "now":
      return engine.clock.now();
    case "export": {
      const proxy = await engine.export_bytes();
      const bytes = proxy.toJs();
      proxy.destroy();
      return bytes;
    }
    case "close": {
      engine.stop();
      await engine.task;
      if (handles) for (const h of Object.values(handles)) h.close();
      handles = null;
      return true;
    }
    default:
      throw new Error(`unknown op ${message.op}`);
  }
}

self.onmessage = async (event) => {
  const message = event.data;
  if (message.op === "frameAck") {
    framesAcknowledged(message.id, message.count);
    return;
  }
  try {
    const value = await call(message);
    const transfer = value instanceof Uint8Array ? [value.buffer] : [];
    postMessage({ id: message.id, ok: true, value }, transfer);
  } catch (error) {
    postMessage({ id: message.id, ok: false, error: { name: error.name, message: String(error.message || error) } });
  }
};
