import type { Redis } from 'ioredis';
import { PlexusError, ZONE_CHANGE_STREAM, compareStreamIds, streamEntriesLost, zoneChangeOf, zoneKeyPatterns, zoneOfKey, type Logger, type StoreCapability, type ZoneKeyScheme } from '@plexus/core';
import type { WildcardRules } from './config.js';
import type { ZoneView } from './zone.js';
import { ZoneState, type ViewChange } from './zone-state.js';

/**
 * The in-memory copy of the zone hashes that every answer is made from. Queries never wait on the
 * store, and no change costs work in proportion to the zone:
 * - the gateway names every field it writes in a change stream (`changeStream`, written in the same
 *   script as the field): we follow it with XREAD and read just those fields (HGET);
 * - any other write (an operator's HSET) sends a keyspace event with no stream entry: that one
 *   hash is re-read by chunked HSCAN, diffed against what we hold;
 * - a full sync of a replica, a reconnect, a gap in the stream and the periodic resync re-read
 *   every hash the same way, chunk by chunk, so the event loop never stalls on a big zone;
 * - between resyncs, a count check compares the set of zone hashes and each one's HLEN with what
 *   we hold, and re-reads only a hash that differs twice in a row (a change in flight differs once).
 * Reads go through the one shared connection and are applied as their replies arrive, so they
 * are applied in the order they were made and a newer value is never overwritten by an older one.
 */

export interface ZoneCacheOptions {
  zones: readonly string[];
  ttl: number;
  keyPrefix: string;
  keySuffix: string;
  log: Logger;
  /** Re-scan period when keyspace notifications are unavailable. Default 1000 ms. */
  pollMs?: number;
  /** Full re-read period even with notifications (changes that send no event). Default 300000 ms. */
  resyncMs?: number;
  /** Period of the count check between full re-reads (with notifications). Default 30000 ms; 0: none. */
  checkMs?: number;
  /** Lookup rules the view is built for (config `wildcards`). Default `coredns`. */
  wildcards?: WildcardRules;
  /** The gateway's change stream. Default `gateway:zone-changes`. */
  changeStream?: string;
}

/** How changes reach us: notifications (immediate) or a periodic re-scan (fallback). */
export type SyncMode = 'keyspace' | 'poll';

/** What the cache reads the store through. */
export type ZoneStore = Pick<StoreCapability, 'redis' | 'duplicate' | 'replicaOfNetwork'>;

export const CHANGE_STREAM = ZONE_CHANGE_STREAM;
/** Keys per SCAN call. */
const SCAN_CHUNK = 1000;
/** Fields per HSCAN call: parsing 250 new records takes about 5 ms, between two turns of the event loop. */
const CHUNK = 250;
/** Fields per HSCAN call while the node loads and serves nothing yet: no answer waits on a turn. */
const LOAD_CHUNK = 5000;
/** How long start waits for a store that answers LOADING (loading a sync's copy or its files). */
const LOADING_WAIT_MS = 300_000;
/** Records parsed for warnings per turn of the event loop after loading (~1-2 ms). */
const CHECK_CHUNK = 1000;
/** Held fields compared with a re-read's per turn of the event loop. */
const CHUNK_SCAN_FIELDS = 20_000;
/** Stream entries per XREAD. */
const STREAM_BATCH = 2000;
/** Unexplained events beyond this are not tracked one by one: everything is re-read instead. */
const MAX_PENDING_EVENTS = 10_000;
/** Replication state is read this often: a replica's full sync sends no keyspace event. */
const REPLICATION_CHECK_MS = 100;
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 2_000;

/** A scan of one hash in progress; `seen` (when it notes them): the fields seen present, so what it did not see is gone. */
interface Reread {
  key: string;
  seen: Set<string> | undefined;
}

export class ZoneCache {
  /** Called after every change of the view with what changed. */
  onChange: ((change: ViewChange) => void) | undefined;
  private readonly scheme: ZoneKeyScheme;
  private readonly state: ZoneState;
  private readonly stream: string;
  private mode: SyncMode = 'keyspace';
  private sub: Redis | undefined;
  private reader: Redis | undefined;
  private timers: NodeJS.Timeout[] = [];
  private stopping = false;
  /** Last stream entry applied (or the stream's end when the last full read began). */
  private lastId = '0-0';
  private readonly rereads = new Set<Reread>();
  /** Keyspace events not yet explained by a stream entry: key → when the first arrived, and our stream position then. */
  private readonly pendingEvents = new Map<string, { n: number; from: string }>();
  /**
   * Key → stream entries applied for it not yet matched with its keyspace event (negative: events
   * matched with entries still to be applied). Every gateway write is one command and one entry,
   * so each entry explains exactly one event, whichever of the two arrives first: a time window
   * instead misjudged events that arrived late on a loaded machine, and each misjudged one cost a
   * re-read of the whole hash (at 20 changes/s on a 100k zone, the node did little else).
   */
  private readonly credits = new Map<string, number>();
  private fullRunning: Promise<void> | undefined;
  private fullAgain = false;
  private failures = 0;
  /** Replication: whether the local store reflects its master now, and the link generation. */
  private linkOk = true;
  private linkGen = 0;
  private syncedGen = -1;
  private readonly stats = { fullSyncs: 0, countChecks: 0, keyRereads: 0, fieldReads: 0, streamEntries: 0, errors: 0, longestApplyMs: 0 };
  /** Hashes whose count differed at the last count check (see `checkCounts`). */
  private differed = new Set<string>();
  /**
   * HLEN minus fields held, per hash, as found right after the count check re-read it: under
   * `rfc4592` rules `WWW` and `www` are one field held, so such a hash never matches its HLEN and
   * would be re-read at every check.
   */
  private readonly countOffsets = new Map<string, number>();
  private checking = false;

  constructor(
    private readonly store: ZoneStore,
    private readonly opts: ZoneCacheOptions,
  ) {
    this.scheme = { prefix: opts.keyPrefix, suffix: opts.keySuffix, zones: opts.zones };
    this.stream = opts.changeStream ?? CHANGE_STREAM;
    this.state = new ZoneState(this.scheme, opts.ttl, (key, field, issue) => opts.log.warn({ key, field, issue }, 'skipped part of a DNS record'), opts.wildcards ?? 'coredns');
  }

  /** The current snapshot. Its zones change in place, synchronously, between queries. */
  get view(): ZoneView {
    return this.state.view;
  }

  /** True once the view reflects a full read made while the store was in sync with its master (always, on a master). */
  get ready(): boolean {
    return this.linkOk && this.syncedGen === this.linkGen;
  }

  /**
   * Loads every zone hash, then follows changes. Resolves once loaded, and on a replica once that
   * load followed a completed sync, or after `syncWaitMs` without one (then `ready` stays false
   * until it happens).
   * @throws ERR_UNAVAILABLE when the first load fails: serving empty zones would hand out
   * NXDOMAINs that resolvers cache, so better not to start.
   */
  async start(syncWaitMs = 0): Promise<void> {
    this.state.setLoading(true);
    try {
      const redis = this.store.redis;
      if (await this.enableNotifications(redis)) await this.subscribe(redis);
      else this.mode = 'poll';
      await this.checkReplication();
      // A replica that loads a full sync's copy (or a store still loading its files) answers
      // LOADING for seconds at 1M records: that is progress, not a failure to start.
      const deadline = Date.now() + LOADING_WAIT_MS;
      this.lastId = await this.whileLoading(() => this.streamEnd(redis), deadline);
      await this.whileLoading(() => this.fullRead(), deadline);
    } catch (cause) {
      await this.stop();
      throw new PlexusError('ERR_UNAVAILABLE', `could not read the zones from the store: ${(cause as Error).message}`, { cause });
    }
    if (this.stats.fullSyncs === 0) {
      await this.stop();
      throw new PlexusError('ERR_UNAVAILABLE', `could not read ${zoneKeyPatterns(this.scheme).join(' ')} from the store`);
    }
    const every = (ms: number, fn: () => void): void => void this.timers.push(setInterval(fn, ms).unref());
    every(this.mode === 'poll' ? (this.opts.pollMs ?? 1000) : (this.opts.resyncMs ?? 300_000), () => this.requestFull());
    const checkMs = this.opts.checkMs ?? 30_000;
    if (this.mode === 'keyspace' && checkMs > 0) every(checkMs, () => void this.checkCounts().catch((err: unknown) => this.failed(err)));
    every(REPLICATION_CHECK_MS, () => void this.checkReplication().catch(() => (this.linkOk = false)));
    this.reader = this.store.duplicate();
    void this.followStream(this.reader);
    if (this.mode === 'poll') this.opts.log.warn({ everyMs: this.opts.pollMs ?? 1000 }, 'store has no keyspace notifications and refused CONFIG SET: re-scanning periodically');
    // A replica whose master comes from a private network has none yet: nothing to wait for.
    const deadline = Date.now() + (this.store.replicaOfNetwork === undefined ? syncWaitMs : 0);
    while (!this.ready && Date.now() < deadline && !this.stopping) await new Promise((r) => setTimeout(r, 20));
    // From here the view is served: changes update the indexes in place, in small chunks.
    this.state.setLoading(false);
    void this.checkDeferred();
    if (!this.ready) this.opts.log.warn({ syncWaitMs }, 'dns serving the local copy before the replica completed a sync with its master (status: cache.ready false)');
  }

  /** Runs `what` again while the store answers LOADING, until `deadline`. */
  private async whileLoading<T>(what: () => Promise<T>, deadline: number): Promise<T> {
    let told = false;
    for (;;) {
      try {
        return await what();
      } catch (err) {
        if (!/^LOADING\b/.test((err as Error).message) || Date.now() > deadline || this.stopping) throw err;
        if (!told) this.opts.log.info({ waitMs: deadline - Date.now() }, 'the store is loading its data set; the dns view is read once it is done');
        told = true;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** The warnings about records read while loading, in slices between queries. */
  private async checkDeferred(): Promise<void> {
    while (!this.stopping && this.state.checkDeferred(CHECK_CHUNK) > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const conns = [this.sub, this.reader];
    this.sub = this.reader = undefined;
    // disconnect, not quit: the reader may be blocked in XREAD.
    for (const c of conns) c?.disconnect();
    await this.fullRunning?.catch(() => undefined);
  }

  /** Numbers for `status()`; the lag is asked of the store. */
  async status(): Promise<Record<string, unknown>> {
    let lag: { changes: number; ms: number } | undefined;
    try {
      const pending = (await this.store.redis.xrange(this.stream, `(${this.lastId}`, '+', 'COUNT', 10_000)) as [string, string[]][];
      lag = { changes: pending.length, ms: pending.length === 0 ? 0 : Math.max(0, Date.now() - idMs(pending[0]![0])) };
    } catch {
      // The store is down: the lag is unknown.
    }
    // `rereading`: hashes being re-read now (a hand-written bulk import keeps this above 0 until it is in).
    return { mode: this.mode, ready: this.ready, ...this.state.counts(), ...this.stats, rereading: this.rereads.size, lastStreamId: this.lastId, ...(lag === undefined ? {} : { lag }) };
  }

  /** Starts `longestApplyMs` again from 0 (`plexus dns reset-peaks`). */
  resetPeaks(): void {
    this.stats.longestApplyMs = 0;
  }

  /**
   * Needs `K` plus generic, expiry and hash events (`A` has them all); turns them on when it may.
   * @returns false when the store refuses (CONFIG renamed or not permitted): poll instead.
   */
  private async enableNotifications(redis: Redis): Promise<boolean> {
    try {
      const flags = ((await redis.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';
      const has = (c: string): boolean => flags.includes(c) || (flags.includes('A') && 'g$lshzxetd'.includes(c));
      if (has('K') && has('g') && has('x') && has('h')) return true;
      await redis.config('SET', 'notify-keyspace-events', `${flags.replace(/[KA]/g, '')}KA`);
      this.opts.log.info({ was: flags }, 'enabled keyspace notifications on the store (notify-keyspace-events KA)');
      return true;
    } catch (err) {
      if ((err as Error).name !== 'ReplyError') throw err;
      return false;
    }
  }

  private async subscribe(redis: Redis): Promise<void> {
    const sub = this.store.duplicate();
    this.sub = sub;
    sub.options.autoResubscribe = false;
    const prefix = `__keyspace@${(redis.options.db as number | undefined) ?? 0}__:`;
    const channels = zoneKeyPatterns(this.scheme).map((p) => prefix + p);
    sub.on('pmessage', (_p: string, channel: string) => this.keyEvent(channel.slice(prefix.length)));
    let readies = 0;
    sub.on('ready', () => {
      if (readies++ === 0 || this.stopping) return;
      // Events were lost while the link was down: everything is read again.
      sub.psubscribe(...channels).then(
        () => this.requestFull(),
        (err: unknown) => this.opts.log.debug({ err }, 'dns: resubscribing failed; retried on the next reconnect'),
      );
    });
    await sub.psubscribe(...channels);
  }

  private keyEvent(key: string): void {
    if (zoneOfKey(key, this.scheme) === undefined) return;
    const pending = this.pendingEvents.get(key);
    if (pending !== undefined) pending.n++;
    else this.pendingEvents.set(key, { n: 1, from: this.lastId });
    if (this.pendingEvents.size > MAX_PENDING_EVENTS) {
      this.pendingEvents.clear();
      this.requestFull();
      return;
    }
    if (!this.explaining) {
      this.explaining = true;
      setImmediate(() => void this.explainEvents().finally(() => (this.explaining = false)));
    }
  }
  private explaining = false;

  /**
   * The gateway writes a field and its stream entry in one script, so when the event arrives the
   * entry is in the stream already: events whose key a pending entry names are the stream's to
   * apply; the others (hand-written changes) re-read their hash.
   */
  private async explainEvents(): Promise<void> {
    while (this.pendingEvents.size > 0 && !this.stopping) {
      const events = [...this.pendingEvents];
      this.pendingEvents.clear();
      let from = events[0]![1].from;
      for (const [, e] of events) if (compareStreamIds(e.from, from) < 0) from = e.from;
      // Entries not applied yet, by key; applied ones are in `credits` (matched here, after the await, so none counts twice).
      const named = new Map<string, number>();
      try {
        const pending = (await this.store.redis.xrange(this.stream, `(${from}`, '+', 'COUNT', STREAM_BATCH)) as [string, string[]][];
        for (const [id, kv] of pending) {
          if (compareStreamIds(id, this.lastId) <= 0) continue;
          const k = kv[kv.indexOf('k') + 1]!;
          named.set(k, (named.get(k) ?? 0) + 1);
        }
      } catch (err) {
        this.failed(err);
        return;
      }
      const unexplained: string[] = [];
      for (const [key, e] of events) {
        const credit = this.credits.get(key) ?? 0;
        const applied = Math.min(e.n, Math.max(0, credit));
        const coming = Math.min(e.n - applied, named.get(key) ?? 0);
        if (coming > 0) named.set(key, named.get(key)! - coming);
        const left = credit - applied - coming;
        if (left === 0) this.credits.delete(key);
        else this.credits.set(key, left);
        if (e.n - applied - coming > 0) unexplained.push(key);
      }
      if (unexplained.length > 0) await this.reread(unexplained, false).catch((err: unknown) => this.failed(err));
    }
  }

  /**
   * On a replica, a full sync from the master replaces the data without any keyspace event: a link
   * seen down (or syncing) and up again, or a new replication id, starts a full re-read.
   */
  private async checkReplication(): Promise<void> {
    if (this.stopping) return;
    const info = await this.store.redis.info('replication');
    const field = (name: string): string => new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(info)?.[1] ?? '';
    const replica = field('role') === 'slave';
    const ok = !replica || (field('master_link_status') === 'up' && field('master_sync_in_progress') !== '1');
    const id = `${field('role')} ${field('master_replid')}`;
    if (ok && (!this.linkOk || id !== this.replId)) {
      this.linkGen++;
      if (this.replId !== undefined) this.requestFull();
    }
    this.linkOk = ok;
    this.replId = id;
  }
  private replId: string | undefined;

  private requestFull(): void {
    if (this.stopping) return;
    if (this.fullRunning !== undefined) {
      this.fullAgain = true;
      return;
    }
    this.fullRunning = this.fullRead()
      .catch((err: unknown) => this.failed(err))
      .finally(() => {
        this.fullRunning = undefined;
        if (this.fullAgain) {
          this.fullAgain = false;
          this.requestFull();
        }
      });
  }

  private failed(err: unknown): void {
    if (this.stopping) return;
    this.stats.errors++;
    if (this.failures++ === 0) this.opts.log.warn({ err: (err as Error).message }, 'reading the zones from the store failed; keeping the last good copy and retrying');
    setTimeout(() => this.requestFull(), Math.min(RETRY_MIN_MS * 2 ** (this.failures - 1), RETRY_MAX_MS)).unref();
  }

  /** Every zone hash, chunk by chunk, diffed against what we hold. */
  private async fullRead(): Promise<void> {
    const gen = this.linkGen;
    // What the full read covers needs no matching; an event of a write before it re-reads one hash at worst.
    this.credits.clear();
    const redis = this.store.redis;
    // A stream that went back (a replica now following another master) would never reach our id.
    const end = await redis.xrevrange(this.stream, '+', '-', 'COUNT', 1).then((l) => l[0]?.[0] ?? '0-0');
    if (compareStreamIds(end, this.lastId) < 0) this.lastId = end;
    const keys = await this.storedZoneKeys();
    for (const k of this.state.keys()) keys.add(k);
    await this.reread([...keys], true);
    if (this.stopping) return;
    this.stats.fullSyncs++;
    if (this.failures > 0) this.opts.log.info('reading the zones from the store works again');
    this.failures = 0;
    this.syncedGen = gen;
  }

  /** The zone hashes in the store now (SCAN by the scheme's patterns). */
  private async storedZoneKeys(): Promise<Set<string>> {
    const keys = new Set<string>();
    for (const pattern of zoneKeyPatterns(this.scheme)) {
      let cursor = '0';
      do {
        const [next, batch] = await this.store.redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_CHUNK, 'TYPE', 'hash');
        cursor = next;
        for (const k of batch) if (zoneOfKey(k, this.scheme) !== undefined) keys.add(k);
      } while (cursor !== '0' && !this.stopping);
    }
    return keys;
  }

  /**
   * The periodic check between full re-reads: the zone hashes in the store and their field counts
   * (HLEN) against what we hold. It reads no field, so it costs the same at 1M records as at 10:
   * the full re-read it stands in for allocated ~2 strings per record every 30 s, which kept V8's
   * memory reducer from ever running and gave a 1M-record node its longest stalls. A FLUSHALL, a
   * hash deleted, created or resized without an event we saw, is re-read by itself; a hash whose
   * count differs only while a change is in flight is not, since it must differ twice in a row.
   * What it cannot see (a value changed behind our back, same count) waits for the full re-read.
   */
  private async checkCounts(): Promise<void> {
    // While a hash is being re-read (a hand-written bulk import coming in) its count is expected
    // to differ: that re-read is already on it.
    if (this.stopping || this.checking || this.fullRunning !== undefined || this.rereads.size > 0 || !this.ready) return;
    this.checking = true;
    try {
      const stored = await this.storedZoneKeys();
      const keys = [...new Set([...stored, ...this.state.keys()])];
      const lengths = await this.fieldCounts(keys);
      const differ = new Set<string>();
      keys.forEach((k, i) => {
        const n = lengths[i];
        if (n !== undefined && n - this.state.size(k) !== (this.countOffsets.get(k) ?? 0)) differ.add(k);
      });
      this.stats.countChecks++;
      const twice = [...differ].filter((k) => this.differed.has(k));
      this.differed = differ;
      if (twice.length > 0 && !this.stopping) {
        this.opts.log.info({ keys: twice.slice(0, 10), count: twice.length }, 'zone hashes differ from what is held without a change seen: reading them again');
        for (const k of twice) this.differed.delete(k);
        await this.reread(twice, false);
        if (this.stopping) return;
        const now = await this.fieldCounts(twice);
        twice.forEach((k, i) => {
          const n = now[i];
          const offset = n === undefined ? 0 : n - this.state.size(k);
          if (offset === 0) this.countOffsets.delete(k);
          else this.countOffsets.set(k, offset);
        });
      }
    } finally {
      this.checking = false;
    }
  }

  /** HLEN of each key, in one round trip; undefined where the store refused it. */
  private async fieldCounts(keys: readonly string[]): Promise<(number | undefined)[]> {
    if (keys.length === 0) return [];
    const replies = (await this.store.redis.pipeline(keys.map((k) => ['hlen', k])).exec()) ?? [];
    return keys.map((_, i) => {
      const [err, n] = replies[i] ?? [null, 0];
      return err === null ? Number(n) : undefined;
    });
  }

  /**
   * Re-reads whole hashes by HSCAN and applies what differs; fields held but not seen (nor written
   * meanwhile) are gone. A full read (every `resyncIntervalMs`, and after a sync) first only
   * compares: a hash with as many fields (HLEN) as we hold after the scan has none gone, and no set
   * of every field name is built. At 1M records that set was tens of MB of garbage per resync,
   * and collecting it gave the node its longest stalls (mark-compact steps of 13-23 ms). A count
   * that differs, and a re-read after a hand-written change, take the pass that notes every field.
   */
  private async reread(keys: string[], full: boolean): Promise<void> {
    for (const key of keys) {
      if (this.stopping) return;
      if (full) {
        if (!(await this.scan(key, false))) return;
        const held = this.state.size(key);
        if (held === 0 || (await this.store.redis.hlen(key)) === held) continue;
        if (this.stopping) return;
      } else this.stats.keyRereads++;
      if (!(await this.scan(key, true))) return;
    }
  }

  /** One HSCAN over `key`, applying what differs; with `noteSeen`, then drops what was not seen. @returns false when stopping. */
  private async scan(key: string, noteSeen: boolean): Promise<boolean> {
    const seen = noteSeen ? new Set<string>() : undefined;
    const r: Reread = { key, seen };
    this.rereads.add(r);
    try {
      const redis = this.store.redis;
      let cursor = '0';
      do {
        const [next, flat] = await redis.hscan(key, cursor, 'COUNT', this.state.loading ? LOAD_CHUNK : CHUNK);
        if (this.stopping) return false;
        cursor = next;
        const fields = new Map<string, string | undefined>();
        for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
        this.applyFields(key, fields);
      } while (cursor !== '0');
      if (seen === undefined) return true;
      // Fields held but not seen are gone: found in slices, so a zone of a million fields does
      // not hold the event loop either (a Map iterator stays valid across changes); a field
      // written meanwhile is marked seen by applyFields.
      let gone: string[] = [];
      let n = 0;
      for (const f of this.state.fields(key)) {
        if (!seen.has(f)) gone.push(f);
        if (++n % CHUNK_SCAN_FIELDS === 0) await new Promise((resolve) => setImmediate(resolve));
        if (this.stopping) return false;
      }
      gone = gone.filter((f) => !seen.has(f));
      // Out of the bookkeeping first: these deletions are not "seen".
      this.rereads.delete(r);
      if (gone.length > 0) this.applyFields(key, new Map(gone.map((f) => [f, undefined])));
      return true;
    } finally {
      this.rereads.delete(r);
    }
  }

  /** Applies read fields, notes them for re-reads in progress, and tells the answer cache. */
  private applyFields(key: string, fields: Map<string, string | undefined>): void {
    const started = performance.now();
    for (const r of this.rereads) {
      if (r.seen === undefined || r.key !== key) continue;
      for (const [f, v] of fields) if (v !== undefined) r.seen.add(this.state.fieldName(f));
    }
    const change = this.state.applyFields(key, fields);
    if (change !== undefined) this.onChange?.(change);
    // From the first load on: before it, nothing is served.
    if (this.stats.fullSyncs > 0) this.stats.longestApplyMs = Math.max(this.stats.longestApplyMs, Math.round(performance.now() - started));
  }

  /** The id of the stream's last entry ('0-0' when there is none): what a full read covers. */
  private async streamEnd(redis: Redis): Promise<string> {
    const last = (await redis.xrevrange(this.stream, '+', '-', 'COUNT', 1)) as [string, string[]][];
    return last[0]?.[0] ?? '0-0';
  }

  /** Follows the change stream on its own connection (XREAD blocks) and reads the fields it names. */
  private async followStream(reader: Redis): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        const got = (await reader.xread('COUNT', STREAM_BATCH, 'BLOCK', 1000, 'STREAMS', this.stream, this.lastId)) as [string, [string, string[]][]][] | null;
        failures = 0;
        const entries = got?.[0]?.[1] ?? [];
        if (entries.length === 0 || this.stopping) continue;
        await this.applyEntries(entries);
      } catch (err) {
        if (this.stopping) return;
        this.stats.errors++;
        if (failures++ === 0) this.opts.log.warn({ err: (err as Error).message }, 'reading the change stream failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(RETRY_MIN_MS * 2 ** (failures - 1), RETRY_MAX_MS)));
      }
    }
  }

  private async applyEntries(entries: [string, string[]][]): Promise<void> {
    const wanted = new Map<string, Set<string>>();
    const perKey = new Map<string, number>();
    for (const [, kv] of entries) {
      const change = zoneChangeOf(kv);
      if (change === undefined || zoneOfKey(change.key, this.scheme) === undefined) continue;
      const { key, field } = change;
      let set = wanted.get(key);
      if (set === undefined) wanted.set(key, (set = new Set()));
      set.add(field);
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
    }
    const p = this.store.redis.pipeline();
    // Entries trimmed away after `lastId` were never read: then only a full read is complete.
    p.xinfo('STREAM', this.stream);
    const order: [string, string][] = [];
    for (const [key, fields] of wanted) {
      for (const f of fields) {
        p.hget(key, f);
        order.push([key, f]);
      }
    }
    const results = (await p.exec()) ?? [];
    if (this.stopping) return;
    const info = results[0]?.[1] as unknown[] | undefined;
    if (info !== undefined && streamEntriesLost(info, this.lastId)) this.requestFull();
    const byKey = new Map<string, Map<string, string | undefined>>();
    order.forEach(([key, f], i) => {
      const [err, v] = results[i + 1] ?? [new Error('no reply'), null];
      if (err !== null) throw err;
      let m = byKey.get(key);
      if (m === undefined) byKey.set(key, (m = new Map()));
      m.set(f, (v as string | null) ?? undefined);
    });
    for (const [key, fields] of byKey) {
      this.stats.fieldReads += fields.size;
      this.applyFields(key, fields);
    }
    for (const [key, n] of perKey) {
      const left = (this.credits.get(key) ?? 0) + n;
      if (left === 0) this.credits.delete(key);
      else this.credits.set(key, left);
    }
    // Events lost (a reconnect re-reads everything anyway) would leave credits behind: bounded.
    if (this.credits.size > MAX_PENDING_EVENTS) this.credits.clear();
    this.stats.streamEntries += entries.length;
    this.lastId = entries[entries.length - 1]![0];
  }
}

/** Milliseconds part of a stream id (`1700000000000-3`). */
function idMs(id: string): number {
  return Number(id.slice(0, id.indexOf('-')));
}
