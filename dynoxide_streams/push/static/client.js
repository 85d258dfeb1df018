// dynoxide-streams browser client — a dependency-free ES module.
//
//   import { subscribe } from "/_streams/client.js";
//   const sub = subscribe({ table: "users", from: "TRIM_HORIZON" }, (record, envelope) => {…});
//   sub.close();
//
//   for await (const envelope of subscribe({ table: "users" })) { envelope.record … }
//
// All tabs of one origin that subscribe to the same table (or stream ARN) share ONE
// websocket: one tab is elected leader (Web Locks API, or — where navigator.locks is
// missing, i.e. non-secure contexts — heartbeats + lowest tab id on the channel itself).
// The leader owns the websocket and publishes every record on a BroadcastChannel; the
// others listen. Every tab drops records whose SequenceNumber is not above the last one
// it delivered, so a leader handover (the new leader resumes after the last sequence
// number it saw) never shows a record twice or skips one. The channel message format is
// specified in docs/broadcast-channel.md.

export const PROTOCOL_VERSION = 1;
export const WS_PATH = "/_streams/ws";
const HEARTBEAT_MS = 250;
const LEADER_TIMEOUT_MS = 1200;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 10000;

/** The BroadcastChannel name for a table or stream ARN subscription. */
export function channelName({ table, streamArn, channel } = {}) {
  if (channel) return channel;
  if (table) return `dynoxide-streams:v1:table:${table}`;
  if (streamArn) return `dynoxide-streams:v1:stream:${streamArn}`;
  throw new TypeError("give table or streamArn");
}

/** Compare two SequenceNumbers (decimal strings of any length): -1, 0 or 1. */
export function compareSequenceNumbers(a, b) {
  if (a === b) return 0;
  if (a == null) return -1;
  if (b == null) return 1;
  const x = String(a).replace(/^0+(?=\d)/, "");
  const y = String(b).replace(/^0+(?=\d)/, "");
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function newTabId() {
  // Lower ids are older tabs: the time first, then randomness to break ties.
  const time = Date.now().toString(36).padStart(10, "0");
  const rand = Math.random().toString(36).slice(2, 10).padEnd(8, "0");
  return `${time}-${rand}`;
}

function wsUrl(endpoint, token) {
  const base = new URL(endpoint || globalThis.location.origin, globalThis.location?.href);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  base.pathname = base.pathname.replace(/\/+$/, "") + WS_PATH;
  base.search = token ? `?token=${encodeURIComponent(token)}` : "";
  base.hash = "";
  return base.toString();
}

export const stats = { websocketsOpened: 0 };

class Subscription {
  constructor(options, onRecord) {
    if (!options || (!options.table === !options.streamArn)) {
      throw new TypeError("subscribe: give exactly one of table or streamArn");
    }
    this.options = { from: "LATEST", ...options };
    this.onRecord = onRecord;
    this.tabId = newTabId();
    this.channelName = channelName(this.options);
    this.lockName = `${this.channelName}#leader`;
    this.role = "follower";
    this.lastSequenceNumber = this.options.from?.after ?? null;
    this.closed = false;
    this.useLocks = !!(globalThis.navigator && navigator.locks && navigator.locks.request);
    this._ws = null;
    this._backoff = BACKOFF_MIN_MS;
    this._retryTimer = null;
    this._ended = false;
    this._listeners = new Set();
    this._channel = new BroadcastChannel(this.channelName);
    this._channel.onmessage = (event) => this._onChannel(event.data);
    this._abort = new AbortController();
    this._peers = new Map(); // fallback election: tabId -> {seen, leader}
    this._leaderSeenAt = 0;
    this._onPageHide = () => this.close();
    globalThis.addEventListener?.("pagehide", this._onPageHide);
    if (this.useLocks) this._electWithLocks();
    else this._electWithHeartbeats();
  }

  // ------------------------------------------------------------------ delivery

  _deliver(envelope) {
    const seqNo = envelope.record?.dynamodb?.SequenceNumber;
    if (seqNo == null) return false;
    if (compareSequenceNumbers(seqNo, this.lastSequenceNumber) <= 0) return false;
    this.lastSequenceNumber = seqNo;
    try {
      this.onRecord?.(envelope.record, envelope);
    } catch (error) {
      setTimeout(() => {
        throw error;
      });
    }
    this._emit({ kind: "record", envelope });
    return true;
  }

  _emit(event) {
    for (const listener of this._listeners) listener(event);
  }

  _event(envelope) {
    try {
      this.options.onEvent?.(envelope);
    } catch (error) {
      setTimeout(() => {
        throw error;
      });
    }
    this._emit({ kind: "event", envelope });
    if (envelope.type === "table_deleted" || envelope.type === "stream_disabled") {
      this._ended = true;
      this._closeSocket();
      this._emit({ kind: "end", envelope });
    }
  }

  _setRole(role) {
    if (this.role === role) return;
    this.role = role;
    this.options.onRole?.(role);
  }

  _post(message) {
    if (this.closed) return;
    try {
      this._channel.postMessage({ v: PROTOCOL_VERSION, tab: this.tabId, ...message });
    } catch {
      /* channel closed */
    }
  }

  _onChannel(message) {
    if (!message || typeof message !== "object" || message.v !== PROTOCOL_VERSION) return;
    switch (message.type) {
      case "record":
        this._deliver(message);
        break;
      case "shard_end":
      case "trimmed":
      case "stream_disabled":
      case "table_deleted":
      case "error":
        this._event(message);
        break;
      case "position":
        if (this.lastSequenceNumber == null && message.after) this.lastSequenceNumber = message.after;
        break;
      case "heartbeat":
        this._peers.set(message.tab, { seen: Date.now(), leader: !!message.leader });
        if (message.leader) this._leaderSeenAt = Date.now();
        if (!this.useLocks && message.leader && this.role === "leader" && message.tab < this.tabId) {
          this._stepDown(); // two leaders: the higher id yields
        }
        break;
      case "bye":
        this._peers.delete(message.tab);
        if (message.leader) this._leaderSeenAt = 0;
        if (!this.useLocks) this._maybeLead();
        break;
      default:
        break; // unknown types are ignored (forward compatible)
    }
  }

  // ------------------------------------------------------------------ election

  _electWithLocks() {
    navigator.locks
      .request(this.lockName, { signal: this._abort.signal }, () => {
        if (this.closed) return undefined;
        this._lead();
        // Hold the lock until this subscription closes (or the tab goes away).
        return new Promise((resolve) => {
          this._releaseLock = resolve;
        });
      })
      .catch(() => {
        /* aborted on close */
      });
  }

  _electWithHeartbeats() {
    const startedAt = Date.now();
    this._heartbeat = setInterval(() => {
      this._post({ type: "heartbeat", leader: this.role === "leader", after: this.lastSequenceNumber });
      // Wait one timeout after start to learn who is already there.
      if (Date.now() - startedAt >= LEADER_TIMEOUT_MS) this._maybeLead();
    }, HEARTBEAT_MS);
    this._post({ type: "heartbeat", leader: false, after: null });
  }

  _maybeLead() {
    if (this.closed || this.role === "leader") return;
    const now = Date.now();
    if (now - this._leaderSeenAt < LEADER_TIMEOUT_MS) return;
    for (const [tab, peer] of this._peers) {
      if (now - peer.seen > LEADER_TIMEOUT_MS) this._peers.delete(tab);
      else if (tab < this.tabId) return; // a lower (older) tab id will lead
    }
    this._lead();
  }

  _stepDown() {
    this._setRole("follower");
    this._leaderSeenAt = Date.now();
    this._closeSocket();
  }

  _lead() {
    this._setRole("leader");
    this._post({ type: "heartbeat", leader: true, after: this.lastSequenceNumber });
    this._connect();
  }

  // ----------------------------------------------------------------- websocket

  _connect() {
    if (this.closed || this.role !== "leader" || this._ended) return;
    const ws = new WebSocket(wsUrl(this.options.endpoint, this.options.token));
    stats.websocketsOpened += 1;
    this._ws = ws;
    const id = "s1";
    ws.onopen = () => {
      const from =
        this.lastSequenceNumber != null ? { after: this.lastSequenceNumber } : this.options.from;
      const request = { action: "subscribe", id, from };
      if (this.options.table) request.table = this.options.table;
      else request.streamArn = this.options.streamArn;
      ws.send(JSON.stringify(request));
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "subscribed") {
        this._backoff = BACKOFF_MIN_MS;
        this.streamArn = frame.streamArn;
        if (this.lastSequenceNumber == null && frame.position) {
          // A concrete start (LATEST/TRIM_HORIZON resolved by the server), shared so
          // that a handover before the first record resumes exactly here.
          this.lastSequenceNumber = frame.position;
          this._post({ type: "position", streamArn: frame.streamArn, after: frame.position });
        }
        this.options.onStatus?.("subscribed");
        return;
      }
      const { id: _ignored, ...envelope } = frame;
      if (frame.type === "record") {
        if (this._deliver(envelope)) this._post(envelope);
      } else if (frame.type === "unsubscribed") {
        /* nothing */
      } else {
        this._post(envelope);
        this._event(envelope);
        if (frame.type === "error") ws.close(); // retried with backoff
      }
    };
    ws.onclose = () => {
      if (this._ws !== ws) return;
      this._ws = null;
      this.options.onStatus?.("disconnected");
      this._scheduleReconnect();
    };
  }

  _scheduleReconnect() {
    if (this.closed || this.role !== "leader" || this._ended) return;
    const delay = this._backoff * (0.5 + Math.random() / 2);
    this._backoff = Math.min(this._backoff * 2, BACKOFF_MAX_MS);
    clearTimeout(this._retryTimer);
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _closeSocket() {
    clearTimeout(this._retryTimer);
    const ws = this._ws;
    this._ws = null;
    if (ws) ws.close(1000);
  }

  // ---------------------------------------------------------------------- API

  /** Stop: close the websocket (if leader), release leadership, leave the channel. */
  close() {
    if (this.closed) return;
    this._post({ type: "bye", leader: this.role === "leader" });
    this.closed = true;
    globalThis.removeEventListener?.("pagehide", this._onPageHide);
    clearInterval(this._heartbeat);
    this._closeSocket();
    this._abort.abort();
    this._releaseLock?.();
    this._channel.close();
    this._emit({ kind: "end" });
  }

  /** Async iteration yields record envelopes {type, streamArn, shardId, record}. */
  [Symbol.asyncIterator]() {
    const queue = [];
    let wake = null;
    let done = false;
    const listener = (event) => {
      if (event.kind === "record") queue.push(event.envelope);
      else if (event.kind === "end") done = true;
      else return;
      wake?.();
    };
    this._listeners.add(listener);
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next: async () => {
        while (!queue.length && !done && !this.closed) {
          await new Promise((resolve) => {
            wake = resolve;
          });
          wake = null;
        }
        if (queue.length) return { value: queue.shift(), done: false };
        this._listeners.delete(listener);
        return { value: undefined, done: true };
      },
      return: async () => {
        this._listeners.delete(listener);
        this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/**
 * Subscribe to a table's (or stream ARN's) change records.
 *
 * options: {endpoint?, table | streamArn, from?: "LATEST" | "TRIM_HORIZON" | {after},
 *           token?, channel?, onEvent?, onStatus?, onRole?}
 * onRecord(record, envelope) is called once per record, in order, in every tab.
 * Returns a Subscription: .close(), .role, .lastSequenceNumber, .tabId, and it is
 * async-iterable (yielding envelopes) when used with `for await`.
 */
export function subscribe(options, onRecord) {
  return new Subscription(options, onRecord);
}

/** The async-iterator form: `for await (const envelope of records({table}))`. */
export function records(options) {
  return subscribe(options)[Symbol.asyncIterator]();
}
