// dynoxide-streams in a browser tab: the Python engine on Pyodide in a dedicated Web
// Worker, persisted to OPFS, shared by every tab of the origin.
//
//   import { openDatabase } from "./dynoxide-streams.mjs";
//   const db = await openDatabase({ name: "app" });
//   await db.send("PutItem", { TableName: "t", Item: { pk: { S: "a" } } });
//   new DynamoDBClient({ requestHandler: db.requestHandler, region: "us-east-1", ... });
//   db.subscribe({ table: "t", from: "TRIM_HORIZON" }, (record, frame) => { ... });
//
// One tab owns the database: it holds the Web Lock "dynoxide-streams:db:<name>#owner"
// (or, where navigator.locks is missing, wins the BroadcastChannel election: lowest
// tab id among tabs heard from recently) and runs the worker. The other tabs send
// their requests over the BroadcastChannel "dynoxide-streams:db:<name>" and get the
// answers and their subscriptions' frames back on it. When the owner goes, the next
// tab opens the database from OPFS and every tab re-subscribes after the last
// SequenceNumber it delivered; a record at or below it is dropped, so none is
// delivered twice and none is missed.

const WORKER_URL = new URL("./worker.mjs", import.meta.url);
const DYNAMODB = "DynamoDB_20120810";
const STREAMS = "DynamoDBStreams_20120810";
const STREAM_OPERATIONS = new Set(["ListStreams", "DescribeStream", "GetShardIterator", "GetRecords"]);
const HEARTBEAT_MS = 500;
const DEAD_AFTER_MS = 2000;
const OPEN_RETRIES = 40;
const FRAME_ACK_EVERY = 32; // divides the worker's per-subscription FRAME_WINDOW (128)

function newId() {
  return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 10);
}

/** The default name of a trigger's function: its table and a hash of its parameters
 * (FNV-1a of their JSON, keys sorted), the same at every load of the page. */
export function triggerName(params) {
  const sorted = (value) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, sorted(value[key])]))
      : Array.isArray(value) ? value.map(sorted) : value;
  const canonical = JSON.stringify(sorted(params));
  let hash = 0x811c9dc5;
  for (let i = 0; i < canonical.length; i++) {
    hash ^= canonical.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  const table = String(params.table ?? "stream").replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 40);
  return `js-${table}-${hash.toString(16).padStart(8, "0")}`;
}

function compareSequenceNumbers(a, b) {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** An AWS error answered by the engine: name, message, HTTP status, raw body. */
export class DynamoDBError extends Error {
  constructor(status, body) {
    const type = String(body.__type || "InternalServerError");
    super(body.message ?? body.Message ?? "");
    this.name = type.slice(type.indexOf("#") + 1);
    this.status = status;
    this.body = body;
  }
}

/** The worker owned by this tab, and the promise-per-request bookkeeping. */
class WorkerLink {
  constructor(onFrame, onInvoke, onReopened) {
    this.worker = new Worker(WORKER_URL, { type: "module" });
    this.pending = new Map();
    this.next = 0;
    this.worker.onmessage = (event) => {
      const message = event.data;
      if (message.frame !== undefined) {
        onFrame(message.frame);
        return;
      }
      if (message.invoke !== undefined) {
        onInvoke(message.invoke);
        return;
      }
      if (message.reopened) {
        onReopened();
        return;
      }
      const waiter = this.pending.get(message.id);
      if (!waiter) return;
      this.pending.delete(message.id);
      if (message.ok) waiter.resolve(message.value);
      else waiter.reject(Object.assign(new Error(message.error.message), { name: message.error.name }));
    };
  }

  call(op, fields = {}) {
    const id = ++this.next;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...fields, id, op });
    });
  }

  terminate() {
    this.worker.terminate();
  }
}

class Database {
  constructor(options) {
    this.name = options.name || "default";
    this.options = options;
    this.tab = newId();
    this.channel = new BroadcastChannel(`dynoxide-streams:db:${this.name}`);
    this.channel.onmessage = (event) => this._onChannel(event.data);
    this.link = null; // the worker, when this tab owns the database
    this.owner = null; // the owner's tab id
    this.ownerInfo = null;
    this.pending = new Map(); // requests sent to another tab's owner
    this.subscriptions = new Map();
    this.triggers = new Map(); // function name -> {params, handler}
    this.invocations = new Map(); // call id -> resolve (owner, waiting on another tab)
    this.peers = new Map(); // fallback election: tab id -> last heard
    this.closed = false;
    this.startupMs = null;
    this._ownerKnown = null;
    this._setOwnerWaiter();
    this.clock = {
      advance: (seconds) => this._request("advance", { seconds }),
      now: () => this._request("now"),
    };
    this.ttl = { sweep: () => this._request("sweep") };
    // test hooks: make the owner's next OPFS flush fail as a full quota would
    this.testing = {
      failNextSync: () => this._request("failNextSync"),
      reopened: () => this._request("reopened"),
      // stop (true) or resume (false) acknowledging this tab's frames, as a tab too
      // slow to keep up would; resuming acknowledges what was held
      holdFrameAcks: (hold) => {
        this._holdAcks = hold;
        if (!hold) for (const sub of this.subscriptions.values()) if (sub.unacked) this._sendAck(sub);
      },
      // the worker's flow control: {subscription id: {unacked, waiting}}
      flow: () => this._request("flow"),
      // the owner's trigger bookkeeping: worker {invocations, functions}, page invocations
      pending: async () => ({ ...(await this._request("pending")), relayed: this.invocations.size }),
    };
    this.requestHandler = {
      metadata: { handlerProtocol: "http/1.1" },
      handle: (request) => this._handleHttp(request),
      updateHttpClientConfig() {},
      httpHandlerConfigs() {
        return {};
      },
      destroy() {},
    };
  }

  _setOwnerWaiter() {
    this._ownerReady = new Promise((resolve) => (this._ownerKnown = resolve));
  }

  /** Whether this tab runs the engine. */
  get isOwner() {
    return this.link !== null;
  }

  /** Where the data lives: {kind: "opfs"} or {kind: "memory", reason}. */
  get persistence() {
    return this.ownerInfo?.persistence;
  }

  async _start() {
    if (globalThis.navigator?.locks?.request && !this.options.noLocks) {
      const held = new Promise((resolve) => (this._releaseLock = resolve));
      navigator.locks.request(`dynoxide-streams:db:${this.name}#owner`, async () => {
        if (this.closed) return;
        await this._becomeOwner();
        await held;
      });
    } else {
      this._heartbeat = setInterval(() => this._electionTick(), HEARTBEAT_MS);
      this._electionTick();
    }
    this.channel.postMessage({ type: "who", tab: this.tab });
    await this._ownerReady;
  }

  _electionTick() {
    if (this.closed) return;
    const now = Date.now();
    this.channel.postMessage({ type: "alive", tab: this.tab, owner: this.isOwner });
    for (const [tab, seen] of this.peers) if (now - seen > DEAD_AFTER_MS) this.peers.delete(tab);
    if (this.isOwner || this._becoming) return;
    if (this.owner && this.peers.has(this.owner)) return;
    if (!this._firstTick) {
      this._firstTick = now; // listen one round before claiming
      return;
    }
    if (now - this._firstTick < HEARTBEAT_MS * 2) return;
    const lowest = [this.tab, ...this.peers.keys()].sort()[0];
    if (lowest === this.tab) this._becomeOwner();
  }

  async _becomeOwner() {
    this._becoming = true;
    const link = new WorkerLink(
      (frame) => this._onWorkerFrame(frame),
      (invoke) => this._invoke(invoke),
      () => {
        // a failed sync made the worker reopen from OPFS: its feeds ended
        this.channel.postMessage({ type: "reopened", tab: this.tab });
        this._resubscribeAll();
      },
    );
    const fields = {
      name: this.name,
      clock: this.options.clock,
      memory: this.options.memory,
      ttlPeriod: this.options.ttlPeriod,
      from: this.options.from,
    };
    let info;
    for (let attempt = 0; ; attempt++) {
      try {
        info = await link.call("open", fields);
        break;
      } catch (error) {
        // the previous owner's worker may still hold the OPFS access handles
        if (!["NoModificationAllowedError", "InvalidStateError"].includes(error.name) || attempt >= OPEN_RETRIES) {
          link.terminate();
          this._becoming = false;
          throw error;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    this.options.from = undefined; // imported once; later owners open what was synced
    this.link = link;
    this._becoming = false;
    this.startupMs = info.startupMs;
    this.startupPhases = info.phasesMs;
    this._setOwner(this.tab, info);
    this.channel.postMessage({ type: "owner", tab: this.tab, info });
  }

  _setOwner(tab, info) {
    const changed = this.owner !== tab;
    this.owner = tab;
    this.ownerInfo = info;
    this._ownerKnown();
    if (changed) {
      // requests in flight to the previous owner cannot be known to have run
      for (const [id, waiter] of this.pending) {
        if (waiter.owner !== tab) {
          this.pending.delete(id);
          waiter.reject(Object.assign(new Error("the owner tab closed; retry"), { name: "OwnerChanged" }));
        }
      }
      this._resubscribeAll();
      for (const [name, trigger] of this.triggers) {
        const fields = { name, params: trigger.params, tab: this.tab, idempotent: true };
        this._request("trigger", fields).catch(() => {});
      }
    }
  }

  _resubscribeAll() {
    for (const sub of this.subscriptions.values()) this._resubscribe(sub);
  }

  _onChannel(message) {
    if (this.closed || !message || typeof message !== "object") return;
    switch (message.type) {
      case "alive":
        this.peers.set(message.tab, Date.now());
        if (message.owner && this.owner !== message.tab && !this.isOwner) this.channel.postMessage({ type: "who", tab: this.tab });
        break;
      case "who":
        if (this.isOwner) this.channel.postMessage({ type: "owner", tab: this.tab, info: this.ownerInfo });
        break;
      case "owner":
        if (message.tab !== this.tab) {
          this.peers.set(message.tab, Date.now());
          this._setOwner(message.tab, message.info);
        }
        break;
      case "gone":
        this.peers.delete(message.tab);
        if (this.isOwner) {
          // its feeds have nobody left to deliver to
          this.link.call("dropSubscriptions", { prefix: `${message.tab}:` }).catch(() => {});
          this.link.call("forgetTab", { tab: message.tab }).catch(() => {});
        }
        if (message.tab === this.owner) {
          this.owner = null;
          this._setOwnerWaiter();
          if (!navigator.locks?.request || this.options.noLocks) this._firstTick = Date.now() - HEARTBEAT_MS * 2;
        }
        break;
      case "request":
        if (this.isOwner) this._serve(message);
        break;
      case "reply":
        if (message.to === this.tab) {
          const waiter = this.pending.get(message.id);
          if (!waiter) return;
          this.pending.delete(message.id);
          if (message.ok) waiter.resolve(message.value);
          else waiter.reject(Object.assign(new Error(message.error.message), { name: message.error.name }));
        }
        break;
      case "frame":
        if (message.to === this.tab) this._onFrame(JSON.parse(message.frame));
        break;
      case "frameAck":
        // a follower handled frames of its subscription: the feed may send more
        if (this.isOwner) this.link.worker.postMessage({ op: "frameAck", id: message.id, count: message.count });
        break;
      case "reopened":
        if (message.tab === this.owner) this._resubscribeAll();
        break;
      case "invoke":
        if (message.to === this.tab && this.triggers.has(message.name)) this._runTrigger(message).then((answer) =>
          this.channel.postMessage({ type: "invoked", call: message.call, ...answer }));
        break;
      case "invoked": {
        const resolve = this.invocations.get(message.call);
        this.invocations.delete(message.call);
        if (resolve) resolve(message);
        break;
      }
    }
  }

  async _serve(message) {
    let reply;
    try {
      reply = { ok: true, value: await this.link.call(message.op, message.fields) };
    } catch (error) {
      reply = { ok: false, error: { name: error.name, message: error.message } };
    }
    this.channel.postMessage({ type: "reply", to: message.from, id: message.id, ...reply });
  }

  /** Run `op` on the owner's worker: here, or through the channel. */
  async _request(op, fields = {}) {
    for (;;) {
      if (this.closed) throw new Error("the database is closed");
      await this._ownerReady;
      if (this.isOwner) return this.link.call(op, fields);
      const id = newId();
      const owner = this.owner;
      try {
        return await new Promise((resolve, reject) => {
          this.pending.set(id, { resolve, reject, owner });
          this.channel.postMessage({ type: "request", from: this.tab, id, op, fields });
        });
      } catch (error) {
        // a request that never reached a worker (subscribe, reads) is safe to resend
        if (error.name === "OwnerChanged" && fields.idempotent) continue;
        throw error;
      }
    }
  }

  /** A frame from the owner's worker: this tab's own, or relayed to the tab whose
   * subscription it is (which acknowledges it; the owner never does for it). */
  _onWorkerFrame(text) {
    const frame = JSON.parse(text);
    if (this.subscriptions.has(frame.id)) this._onFrame(frame);
    else {
      // subscription ids are "<tab id>:<n>": only that tab parses the frame
      const to = String(frame.id).slice(0, String(frame.id).indexOf(":"));
      this.channel.postMessage({ type: "frame", to, frame: text });
    }
  }

  /** Acknowledge a handled frame of subscription `id` to the worker (through the
   * owner when this tab is a follower), FRAME_ACK_EVERY at a time: the worker lets a
   * feed run FRAME_WINDOW frames ahead of its subscriber's acknowledgements, so a slow
   * tab stalls its own feed (a cursor), never a queue. */
  _acknowledge(sub) {
    if (++sub.unacked >= FRAME_ACK_EVERY && !this._holdAcks) this._sendAck(sub);
  }

  _sendAck(sub) {
    const count = sub.unacked;
    sub.unacked = 0;
    if (this.isOwner) this.link.worker.postMessage({ op: "frameAck", id: sub.id, count });
    else this.channel.postMessage({ type: "frameAck", id: sub.id, count });
  }

  _onFrame(frame) {
    const sub = this.subscriptions.get(frame.id);
    if (!sub) return;
    this._acknowledge(sub);
    if (frame.type === "record") {
      const sequence = frame.record.dynamodb.SequenceNumber;
      if (sub.last !== null && compareSequenceNumbers(sequence, sub.last) <= 0) return;
      sub.last = sequence;
      sub.onRecord(frame.record, frame);
    } else if (sub.onFrame) {
      sub.onFrame(frame);
    }
  }

  async _resubscribe(sub) {
    sub.unacked = 0; // the new feed starts a new window
    const from = sub.last !== null ? { after: sub.last } : sub.from;
    const message = JSON.stringify({ action: "subscribe", id: sub.id, table: sub.table, from });
    try {
      const answer = JSON.parse(await this._request("subscribe", { message, idempotent: true }));
      if (answer.type === "subscribed" && sub.last === null && answer.position) {
        // LATEST resolves once: a later owner resumes after this point
        sub.last = answer.position;
      }
      sub.answer = answer;
      if (answer.type === "error") sub.error = answer;
      sub.resolve(answer);
    } catch (error) {
      sub.resolve({ type: "error", code: error.name, message: error.message });
    }
  }

  async _runTrigger({ name, event }) {
    try {
      const value = await this.triggers.get(name).handler(JSON.parse(event));
      return { ok: true, value: value ?? null };
    } catch (error) {
      return { ok: false, error: String(error?.message ?? error) };
    }
  }

  /** The owner's worker invokes a trigger function: run it here, or in its tab. */
  async _invoke(invoke) {
    let answer;
    if (this.triggers.has(invoke.name)) {
      answer = await this._runTrigger(invoke);
    } else {
      const call = `${this.tab}:${invoke.call}`;
      answer = await new Promise((resolve) => {
        // the worker gives up after the function's timeout: so does this entry
        const timer = setTimeout(() => {
          if (this.invocations.delete(call)) resolve({ ok: false, error: `${invoke.name} did not answer` });
        }, invoke.timeoutMs);
        this.invocations.set(call, (answer) => (clearTimeout(timer), resolve(answer)));
        this.channel.postMessage({ type: "invoke", to: invoke.tab, name: invoke.name, call, event: invoke.event });
      });
    }
    this.link?.worker.postMessage({ op: "invoked", call: invoke.call, ok: answer.ok, value: answer.value, error: answer.error });
  }

  /** Call `handler(event)` with Lambda's DynamoDB event for `table`'s records, with
   * the server's batching, retry, bisect and partial-failure rules. Options (snake or
   * camel case): table, batchSize, filters, functionResponseTypes,
   * maximumRetryAttempts, bisectBatchOnFunctionError, startingPosition, ... The
   * handler's return value is the function's response ({batchItemFailures: [...]});
   * a throw is a function error. */
  async trigger(options, handler) {
    const params = {};
    let name = null;
    for (const [key, value] of Object.entries(options)) {
      if (key === "name") name = String(value);
      else params[key.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())] = value;
    }
    // The mapping and its checkpoint live in the database: a name that is the same
    // at every load (never the tab id) makes declaring again after a reload reuse
    // them instead of adding a mapping that replays the stream from TRIM_HORIZON.
    if (name === null) name = triggerName(params);
    const previous = this.triggers.get(name);
    this.triggers.set(name, { params: JSON.stringify(params), handler });
    try {
      await this._request("trigger", { name, params: JSON.stringify(params), tab: this.tab });
    } catch (error) {
      if (previous) this.triggers.set(name, previous);
      else this.triggers.delete(name);
      throw error;
    }
    return name;
  }

  /** The event source mappings stored in the database, each with its checkpoints:
   * [{uuid, functionName, eventSourceArn, enabled, checkpoints: [{shardId, position}]}]. */
  async triggerMappings() {
    return JSON.parse(await this._request("mappings"));
  }

  /** Deliver `table`'s stream records from `from` ("TRIM_HORIZON", "LATEST" or
   * {after: SequenceNumber}) to `onRecord(record, frame)`, each once, in order.
   * Resolves to {subscribed frame, unsubscribe()} or throws the error frame. */
  async subscribe({ table, from = "LATEST", onFrame }, onRecord) {
    const sub = { id: `${this.tab}:${newId()}`, table, from, onRecord, onFrame, last: null, unacked: 0 };
    const answered = new Promise((resolve) => (sub.resolve = resolve));
    this.subscriptions.set(sub.id, sub);
    this._resubscribe(sub);
    const answer = await answered;
    if (answer.type !== "subscribed") {
      this.subscriptions.delete(sub.id);
      throw Object.assign(new Error(answer.message), { name: answer.code });
    }
    return {
      frame: answer,
      unsubscribe: async () => {
        this.subscriptions.delete(sub.id);
        const message = JSON.stringify({ action: "unsubscribe", id: sub.id });
        await this._request("subscribe", { message });
      },
    };
  }

  /** Publish `table`'s stream records from `from` on the version 1 channel
   * `dynoxide-streams:v1:table:<table>` that `/_streams/client.js` listens on
   * (docs/broadcast-channel.md: `{v: 1, type: "record", tab, streamArn, shardId,
   * record}`, `position`, and the stream events), so client.js subscribers in any tab
   * of the origin get the in-tab engine's records. This tab acts as the channel's
   * leader: it asks for the Web Lock `<channel>#leader` (or, without Web Locks, sends
   * leader heartbeats) so client.js tabs listen instead of opening a websocket. The
   * records come from a `subscribe` of this tab, so they go on across owner changes.
   * Resolves to {close()}. */
  async publish(table, { from = "LATEST" } = {}) {
    const name = `dynoxide-streams:v1:table:${table}`;
    const channel = new BroadcastChannel(name);
    const post = (message) => channel.postMessage({ v: 1, tab: this.tab, ...message });
    let release = () => {};
    let heartbeat = null;
    let last = null; // the last SequenceNumber published (leader heartbeats carry it)
    if (globalThis.navigator?.locks?.request && !this.options.noLocks) {
      const held = new Promise((resolve) => (release = resolve));
      navigator.locks.request(`${name}#leader`, () => held).catch(() => {});
    } else {
      heartbeat = setInterval(() => post({ type: "heartbeat", leader: true, after: last }), 250);
    }
    const sub = await this.subscribe(
      { table, from, onFrame: ({ id, ...event }) => post(event) },
      (record, frame) => {
        last = record.dynamodb.SequenceNumber;
        post({ type: "record", streamArn: frame.streamArn, shardId: frame.shardId, record });
      },
    );
    if (sub.frame.position && /^[0-9]+$/.test(sub.frame.position)) {
      post({ type: "position", streamArn: sub.frame.streamArn, after: sub.frame.position });
    }
    return {
      close: async () => {
        clearInterval(heartbeat);
        if (heartbeat !== null) post({ type: "bye", leader: true });
        release();
        channel.close();
        await sub.unsubscribe();
      },
    };
  }

  /** One DynamoDB or DynamoDB Streams operation, DynamoDB JSON in and out. */
  async send(operation, params = {}) {
    const prefix = STREAM_OPERATIONS.has(operation) ? STREAMS : DYNAMODB;
    const { status, body } = await this._request("send", {
      target: `${prefix}.${operation}`,
      body: JSON.stringify(params),
    });
    const parsed = JSON.parse(body);
    if (status !== 200) throw new DynamoDBError(status, parsed);
    return parsed;
  }

  async _handleHttp(request) {
    const headers = request.headers || {};
    const target = headers["x-amz-target"] || headers["X-Amz-Target"] || "";
    let body = request.body ?? "";
    if (body instanceof Uint8Array) body = new TextDecoder().decode(body);
    const answer = await this._request("send", { target, body: String(body) });
    return {
      response: {
        statusCode: answer.status,
        reason: answer.status === 200 ? "OK" : "Bad Request",
        headers: {
          "content-type": "application/x-amz-json-1.0",
          "x-amzn-requestid": newId(),
        },
        body: new TextEncoder().encode(answer.body),
      },
    };
  }

  /** The database as one SQLite file (what `serve --data-dir` opens as data.db). */
  async export() {
    return this._request("export");
  }

  /** Stop: the owner's worker closes the database (other tabs take over). */
  async close() {
    if (this.closed) return;
    if (this.isOwner) {
      try {
        await this.link.call("close");
      } finally {
        this.link.terminate();
        this.link = null;
      }
    }
    this.closed = true;
    clearInterval(this._heartbeat);
    this.channel.postMessage({ type: "gone", tab: this.tab });
    this.channel.close();
    if (this._releaseLock) this._releaseLock();
  }
}

/** Open (creating if needed) the database `name` of this origin.
 * Options: name, clock ("real" | "virtual"), from (SQLite bytes to import: replaces
 * the database; throws DatabaseInUse, importing nothing, when another tab owns it),
 * memory (true: never OPFS), ttlPeriod (seconds between TTL sweeps),
 * noLocks (use the BroadcastChannel election even where Web Locks exist). */
export async function openDatabase(options = {}) {
  const db = new Database({ ...options });
  addEventListener("pagehide", () => {
    if (!db.closed) db.channel.postMessage({ type: "gone", tab: db.tab });
  });
  const importing = options.from !== undefined && options.from !== null;
  await db._start();
  if (importing && !db.isOwner) {
    // the bytes can only be imported by the tab that opens the database: never drop them
    await db.close();
    throw Object.assign(
      new Error(`another tab owns the database "${db.name}": its data was not replaced (import from that tab, or close it first)`),
      { name: "DatabaseInUse" },
    );
  }
  return db;
}
