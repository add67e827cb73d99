import type { ServerResponse } from 'node:http';
import {
  TCPROUTER_KEY_PATTERN,
  ZONE_CHANGE_STREAM,
  decodeService,
  fqdnOfTcprouterKey,
  parseField,
  type Logger,
  type StoreCapability,
  type StoreWatchBatch,
  type StoreWatcher,
} from '@plexus/core';
import { ZoneFeed, fingerprint } from './zone-feed.js';

/**
 * `/events`: registrations and record changes as they happen, as Server-Sent Events. The source
 * is the store's `watch()` (keyspace notifications, so the same on a master and on a replica that
 * applies the master's writes): phonebook records and the tcprouter routes; the zone hashes of the
 * configured zones through the gateway's change stream (ZoneFeed: one field read per change). A
 * fingerprint per key (per field for zone hashes) tells what really changed, so a full re-read
 * (resync, a replica's full sync) sends only differences.
 */

/** One event as sent: `event: <type>`, `id: <seq>`, `data: <json>`. */
export interface ApiEvent {
  id: number;
  type: 'name' | 'record' | 'route';
  data: Record<string, unknown>;
}

export interface EventHubOptions {
  maxClients: number;
  heartbeatMs: number;
  /** Recent events kept for Last-Event-ID. */
  replay: number;
  resyncMs: number;
  /** Period of the check for zone changes made without a change-stream entry (ZoneFeed). */
  zoneCheckMs: number;
  /** Zones whose hashes are watched (gateway's and dns's). */
  zones: readonly string[];
  log: Logger;
}

const USER_PATTERN = 'phonebook:user:*';

export class EventHub {
  private readonly clients = new Set<ServerResponse>();
  private readonly recent: ApiEvent[] = [];
  private seq = 0;
  private watchers: StoreWatcher[] = [];
  private heartbeat: NodeJS.Timeout | undefined;
  /** Per watched key, a fingerprint of what was last seen. */
  private readonly seen = new Map<string, string>();
  /** The zone hashes' changes, by field (see ZoneFeed). */
  private zoneFeed: ZoneFeed | undefined;
  /** Events sent since start, for status. */
  sent = 0;

  constructor(private readonly opts: EventHubOptions) {}

  get clientCount(): number {
    return this.clients.size;
  }

  /** The zone records' feed: checks run, stream entries and fields read, errors (undefined: no zones). */
  get zoneStats(): ZoneFeed['stats'] | undefined {
    return this.zoneFeed === undefined ? undefined : { ...this.zoneFeed.stats };
  }

  /** Watches the store; resolves once the current state is loaded (sent as nothing: only changes are events). */
  async start(store: StoreCapability): Promise<void> {
    const { resyncMs, log } = this.opts;
    this.heartbeat = setInterval(() => this.write(': ping\n\n'), this.opts.heartbeatMs);
    this.heartbeat.unref();
    this.watchers.push(await store.watch({ patterns: [USER_PATTERN], kind: 'hash', resyncMs, log }, initialFirst((b, i) => this.onUsers(b, i))));
    if (this.opts.zones.length > 0) {
      const feed = new ZoneFeed(store, { zones: this.opts.zones, stream: ZONE_CHANGE_STREAM, checkMs: this.opts.zoneCheckMs, log, onChange: (zone, name, value) => this.onRecord(zone, name, value) });
      await feed.start();
      this.zoneFeed = feed;
    }
    this.watchers.push(await store.watch({ patterns: [TCPROUTER_KEY_PATTERN], kind: 'string', resyncMs, log }, initialFirst((b, i) => this.onRoutes(b, i))));
  }

  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    const watchers = this.watchers;
    this.watchers = [];
    const feed = this.zoneFeed;
    this.zoneFeed = undefined;
    await Promise.all([...watchers.map((w) => w.stop()), feed?.stop()]);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }

  /**
   * Takes `res` as an event stream: headers, then events newer than `lastEventId` still kept,
   * then everything from now on. False when the hub is full (the caller answers 503).
   */
  attach(res: ServerResponse, lastEventId: number | undefined): boolean {
    if (this.clients.size >= this.opts.maxClients) return false;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // The retry hint and a first comment flush the headers through proxies at once.
    res.write(`retry: 2000\n: connected\n\n`);
    if (lastEventId !== undefined) for (const e of this.recent) if (e.id > lastEventId) res.write(frame(e));
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    return true;
  }

  private emit(type: ApiEvent['type'], data: Record<string, unknown>): void {
    const event = { id: ++this.seq, type, data };
    this.recent.push(event);
    if (this.recent.length > this.opts.replay) this.recent.shift();
    this.sent++;
    this.write(frame(event));
  }

  private write(text: string): void {
    for (const c of this.clients) c.write(text);
  }

  private onUsers(batch: StoreWatchBatch<'hash'>, initial: boolean): void {
    for (const [key, h] of batch.changes) {
      // `updated` moves on every write the phonebook makes; the key prefix catches a hand-made change.
      const print = h === undefined ? undefined : `${h.updated}|${(h.pubkey ?? '').slice(0, 8)}`;
      if (!this.changed(key, print) || initial) continue;
      if (h === undefined) this.emit('name', { key, removed: true });
      else this.emit('name', { tid: Number(h.tid), name: h.name, pubkey: h.pubkey, ipaddr: h.ipaddr ?? '', description: h.description ?? '', created: Number(h.created ?? 0), updated: Number(h.updated ?? 0) });
    }
  }

  private onRecord(zone: string, name: string, value: string | undefined): void {
    if (value === undefined) {
      this.emit('record', { zone, name, records: null, removed: true });
      return;
    }
    let records: unknown = null;
    try {
      records = parseField(value);
    } catch {
      // Unreadable JSON is still a change; the records stay null.
    }
    this.emit('record', { zone, name, records });
  }

  private onRoutes(batch: StoreWatchBatch<'string'>, initial: boolean): void {
    for (const [key, raw] of batch.changes) {
      if (!this.changed(key, raw === undefined ? undefined : fingerprint(raw)) || initial) continue;
      const domain = fqdnOfTcprouterKey(key) ?? key;
      if (raw === undefined) {
        this.emit('route', { domain, removed: true });
        continue;
      }
      try {
        const { service } = decodeService(raw);
        this.emit('route', { domain, addr: service.addr, tlsport: service.tlsport, httpport: service.httpport, tunnel: service.clientsecret !== '' });
      } catch {
        this.emit('route', { domain, error: 'unreadable route' });
      }
    }
  }

  /** Records `print` for `key`; true when it differs from the last one. */
  private changed(key: string, print: string | undefined): boolean {
    const before = this.seen.get(key);
    if (print === undefined) this.seen.delete(key);
    else this.seen.set(key, print);
    return before !== print;
  }
}

/** Marks a watcher's first batch (the state at start, which is no news) as initial. */
function initialFirst<B>(fn: (batch: B, initial: boolean) => void): (batch: B) => void {
  let loaded = false;
  return (batch) => {
    fn(batch, !loaded);
    loaded = true;
  };
}

function frame(e: ApiEvent): string {
  return `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e.data)}\n\n`;
}
