import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { streamEntriesLost, zoneChangeOf, zoneKeyPatterns, zoneOfKey, type Logger, type StoreCapability, type ZoneKeyScheme } from '@plexus/core';

/**
 * The record changes of the zone hashes, for `/events`, at a cost in proportion to the change.
 *
 * The gateway names every zone field it writes in its change stream (`gateway:zone-changes`, in the
 * same script as the write): the feed follows the stream and reads only the fields named. A
 * keyspace event names only the hash, so following events meant reading the whole hash on every
 * registration: at 100k records, ~590 ms of CPU and a 1 s event-loop stall per change, on the
 * explorer that also answers the registrations.
 *
 * Changes that come without a stream entry (an operator's `redis-cli HSET`, a FLUSHALL, a replica's
 * full sync, entries trimmed before they were read) are found by a check every `checkMs`: each
 * zone hash is read by chunked HSCAN and compared field by field with what was seen, so no chunk
 * holds the event loop for long.
 */

export interface ZoneFeedOptions {
  zones: readonly string[];
  /** The gateway's change stream. */
  stream: string;
  /** Period of the check that finds changes made without a stream entry. */
  checkMs: number;
  log: Logger;
  /** A field's value changed (`value` undefined: the field is gone). */
  onChange(zone: string, field: string, value: string | undefined): void;
}

/** Fields per HSCAN call: a chunk is decoded and compared in well under a millisecond. */
const SCAN_CHUNK = 250;
/** Stream entries per XREAD. */
const STREAM_BATCH = 1000;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 2_000;

/** A check's scan of one hash: the fields it saw, and the fields the stream wrote meanwhile. */
interface Scan {
  key: string;
  seen: Set<string>;
}

export class ZoneFeed {
  private readonly scheme: ZoneKeyScheme;
  /** Per zone hash, per field, a fingerprint of the value last seen (16 bytes, not the value). */
  private readonly seen = new Map<string, Map<string, string>>();
  private lastId = '0-0';
  private reader: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private checking: Promise<void> | undefined;
  private readonly scans = new Set<Scan>();
  private failures = 0;
  readonly stats = { checks: 0, streamEntries: 0, fieldReads: 0, errors: 0 };

  constructor(
    private readonly store: StoreCapability,
    private readonly opts: ZoneFeedOptions,
  ) {
    this.scheme = { zones: opts.zones, prefix: '', suffix: '' };
  }

  /** Reads the zones as they are (no events: that is the state, not a change), then follows changes. */
  async start(): Promise<void> {
    const last = (await this.store.redis.xrevrange(this.opts.stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
    this.lastId = last[0]?.[0] ?? '0-0';
    await this.check(true);
    this.reader = this.store.duplicate();
    void this.follow(this.reader);
    this.timer = setInterval(() => this.runCheck(), this.opts.checkMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    this.reader?.disconnect();
    await this.checking;
  }

  /** Runs a check unless one runs already. */
  private runCheck(): void {
    if (this.stopping || this.checking !== undefined) return;
    this.checking = this.check(false)
      .catch((err: unknown) => this.failed(err, 'checking the zone hashes failed; retried at the next check'))
      .finally(() => (this.checking = undefined));
  }

  /** Every zone hash, chunk by chunk, against what was seen; fields seen before and absent now are gone. */
  private async check(initial: boolean): Promise<void> {
    const redis = this.store.redis;
    const keys = new Set<string>(this.seen.keys());
    for (const pattern of zoneKeyPatterns(this.scheme)) {
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'hash');
        cursor = next;
        for (const k of batch) if (zoneOfKey(k, this.scheme) !== undefined) keys.add(k);
      } while (cursor !== '0' && !this.stopping);
    }
    for (const key of keys) {
      if (this.stopping) return;
      const scan: Scan = { key, seen: new Set() };
      this.scans.add(scan);
      try {
        let cursor = '0';
        do {
          const [next, flat] = await redis.hscan(key, cursor, 'COUNT', SCAN_CHUNK);
          if (this.stopping) return;
          cursor = next;
          for (let i = 0; i + 1 < flat.length; i += 2) {
            scan.seen.add(flat[i]!);
            this.apply(key, flat[i]!, flat[i + 1]!, initial);
          }
        } while (cursor !== '0');
        const held = this.seen.get(key);
        if (held !== undefined) for (const f of [...held.keys()]) if (!scan.seen.has(f)) this.apply(key, f, undefined, initial);
      } finally {
        this.scans.delete(scan);
      }
    }
    this.stats.checks++;
  }

  /** Follows the stream on its own connection (XREAD blocks) and reads the fields it names. */
  private async follow(reader: Redis): Promise<void> {
    while (!this.stopping) {
      try {
        const got = (await reader.xread('COUNT', STREAM_BATCH, 'BLOCK', 1000, 'STREAMS', this.opts.stream, this.lastId)) as [string, [string, string[]][]][] | null;
        const entries = got?.[0]?.[1] ?? [];
        if (entries.length > 0 && !this.stopping) await this.read(entries);
        if (this.failures > 0) this.opts.log.info('reading the zone change stream works again');
        this.failures = 0;
      } catch (err) {
        if (this.stopping) return;
        this.failed(err, 'reading the zone change stream failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(RETRY_MIN_MS * 2 ** (this.failures - 1), RETRY_MAX_MS)));
      }
    }
  }

  private async read(entries: [string, string[]][]): Promise<void> {
    const named: [string, string][] = [];
    for (const [, kv] of entries) {
      const change = zoneChangeOf(kv);
      if (change !== undefined && zoneOfKey(change.key, this.scheme) !== undefined) named.push([change.key, change.field]);
    }
    const p = this.store.redis.pipeline();
    // Entries trimmed after `lastId` were never read: the next check finds what they named.
    p.xinfo('STREAM', this.opts.stream);
    for (const [key, field] of named) p.hget(key, field);
    const results = (await p.exec()) ?? [];
    if (this.stopping) return;
    const info = results[0]?.[1] as unknown[] | undefined;
    if (info !== undefined && streamEntriesLost(info, this.lastId)) this.runCheck();
    named.forEach(([key, field], i) => {
      const [err, value] = results[i + 1] ?? [new Error('no reply'), null];
      if (err !== null) throw err;
      for (const s of this.scans) if (s.key === key) s.seen.add(field);
      this.apply(key, field, (value as string | null) ?? undefined, false);
    });
    this.stats.fieldReads += named.length;
    this.stats.streamEntries += entries.length;
    this.lastId = entries[entries.length - 1]![0];
  }

  /** Notes a field's value; tells `onChange` when it differs from the one seen (never on the initial read). */
  private apply(key: string, field: string, value: string | undefined, initial: boolean): void {
    let held = this.seen.get(key);
    const before = held?.get(field);
    const print = value === undefined ? undefined : fingerprint(value);
    if (before === print) return;
    if (print === undefined) {
      held!.delete(field);
      if (held!.size === 0) this.seen.delete(key);
    } else {
      if (held === undefined) this.seen.set(key, (held = new Map()));
      held.set(field, print);
    }
    if (!initial) this.opts.onChange(key.slice(0, -1), field, value);
  }

  private failed(err: unknown, message: string): void {
    this.stats.errors++;
    // Logged once per outage: while the store is down every retry fails the same way.
    if (this.failures++ === 0) this.opts.log.warn({ err: (err as Error).message }, message);
  }
}

/** A short fingerprint: the map keeps 16 bytes per field, not the whole value. */
export function fingerprint(value: string): string {
  return createHash('sha1').update(value).digest('base64').slice(0, 16);
}
