import type { Redis } from 'ioredis';
import { PlexusError, zoneKeyPatterns, zoneOfKey, type Logger, type StoreCapability, type ZoneKeyScheme } from '@plexus/core';
import { readHashes, scanZoneKeys } from './store-keys.js';
import type { ZoneView } from './zone.js';
import { ZoneState } from './zone-state.js';

/**
 * The in-memory copy of the zone hashes that every answer is made from. Loaded with SCAN +
 * HGETALL at start, then kept current from keyspace notifications: each event re-reads just
 * that key. Queries never wait on the store.
 */

export interface ZoneCacheOptions {
  zones: readonly string[];
  ttl: number;
  keyPrefix: string;
  keySuffix: string;
  log: Logger;
  /** Re-scan period when keyspace notifications are unavailable. Default 1000 ms. */
  pollMs?: number;
  /** Full re-read period even with notifications (changes that send no event). Default 30000 ms. */
  resyncMs?: number;
}

/** How changes reach us: notifications (immediate) or a periodic re-scan (fallback). */
export type SyncMode = 'keyspace' | 'poll';

const RETRY_MS = 500;
/** Replica only: how often the replication link is checked (a full sync from the master is silent). */
const REPLICA_CHECK_MS = 1000;

export class ZoneCache {
  /** Called after every change of `view`. */
  onChange: (() => void) | undefined;
  mode: SyncMode = 'keyspace';
  private readonly scheme: ZoneKeyScheme;
  private readonly state: ZoneState;
  private readonly dirty = new Set<string>();
  private needFull = true;
  private pumping: Promise<void> | undefined;
  private sub: Redis | undefined;
  private timers: NodeJS.Timeout[] = [];
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;
  private failing = false;
  private readonly stats = { fullSyncs: 0, keyReads: 0, errors: 0 };

  constructor(
    private readonly store: Pick<StoreCapability, 'redis' | 'duplicate' | 'role'>,
    private readonly opts: ZoneCacheOptions,
  ) {
    this.scheme = { prefix: opts.keyPrefix, suffix: opts.keySuffix, zones: opts.zones };
    this.state = new ZoneState(this.scheme, opts.ttl, (key, field, issue) => opts.log.warn({ key, field, issue }, 'skipped part of a DNS record'));
  }

  /** The current snapshot. Replaced as a whole on every change, never mutated. */
  get view(): ZoneView {
    return this.state.view;
  }

  /** Subscribes (or falls back to polling), then loads everything. Resolves once loaded. */
  async start(): Promise<void> {
    this.stopped = false;
    const redis = this.store.redis;
    if (await this.ensureNotifications(redis)) {
      const sub = this.store.duplicate();
      this.sub = sub;
      const db = (redis.options.db as number | undefined) ?? 0;
      const channelPrefix = `__keyspace@${db}__:`;
      sub.on('pmessage', (_p: string, channel: string) => this.markDirty(channel.slice(channelPrefix.length)));
      let first = true;
      // Events are lost while the link is down: after a reconnect everything is read again.
      sub.on('ready', () => {
        if (!first) this.requestFull();
        first = false;
      });
      await sub.psubscribe(...zoneKeyPatterns(this.scheme).map((p) => channelPrefix + p));
    } else {
      this.mode = 'poll';
      this.opts.log.warn({ everyMs: this.opts.pollMs ?? 1000 }, 'store has no keyspace notifications and refused CONFIG SET: re-scanning periodically');
      this.timers.push(setInterval(() => this.requestFull(), this.opts.pollMs ?? 1000));
    }
    if (this.mode === 'keyspace') this.timers.push(setInterval(() => this.requestFull(), this.opts.resyncMs ?? 30_000));
    if (this.store.role === 'replica') this.watchReplication(redis);
    for (const t of this.timers) t.unref();
    this.requestFull();
    await this.pump();
    // Serving empty zones would hand out NXDOMAINs that resolvers cache: better not to start.
    if (this.stats.fullSyncs === 0) {
      await this.stop();
      throw new PlexusError('ERR_UNAVAILABLE', 'could not load the zones from the store');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    if (this.retry !== undefined) clearTimeout(this.retry);
    const sub = this.sub;
    this.sub = undefined;
    if (sub !== undefined) await sub.quit().catch(() => sub.disconnect());
  }

  /** Numbers for `status()`. */
  status(): Record<string, unknown> {
    return { mode: this.mode, ...this.state.counts(), ...this.stats };
  }

  /** Needs `K` plus hash, generic and expiry events (`A` has them all); turns them on when it may. */
  private async ensureNotifications(redis: Redis): Promise<boolean> {
    try {
      const got = (await redis.config('GET', 'notify-keyspace-events')) as string[];
      const flags = got[1] ?? '';
      const has = (c: string): boolean => flags.includes(c) || (flags.includes('A') && 'g$lshzxetd'.includes(c));
      if (has('K') && has('g') && has('h') && has('x') && has('$')) return true;
      await redis.config('SET', 'notify-keyspace-events', `${flags.replace(/[KA]/g, '')}KA`);
      this.opts.log.info({ was: flags }, 'enabled keyspace notifications on the store (notify-keyspace-events KA)');
      return true;
    } catch (err) {
      this.opts.log.debug({ err }, 'CONFIG GET/SET notify-keyspace-events failed');
      return false;
    }
  }

  /**
   * On a replica, a full resync with the master replaces the data without any keyspace event. A
   * link that was seen down and is up again triggers a re-read at once; a flap shorter than the
   * check period is caught by the periodic full re-read.
   */
  private watchReplication(redis: Redis): void {
    let wasDown = false;
    this.timers.push(setInterval(() => {
      redis.info('replication').then((info) => {
        const down = !/master_link_status:up/.test(info) || /master_sync_in_progress:1/.test(info);
        if (wasDown && !down) this.requestFull();
        wasDown = down;
      }, () => (wasDown = true));
    }, REPLICA_CHECK_MS));
  }

  private markDirty(key: string): void {
    if (zoneOfKey(key, this.scheme) === undefined) return;
    this.dirty.add(key);
    void this.pump();
  }

  private requestFull(): void {
    this.needFull = true;
    void this.pump();
  }

  /**
   * Applies pending work one batch at a time, so a key's reads are applied in the order they were
   * issued: an event that arrives during a full load is read again after it.
   */
  private pump(): Promise<void> {
    // The running loop picks up work added while it runs, so joining it is enough.
    if (this.pumping === undefined && !this.stopped) this.pumping = this.drain().finally(() => (this.pumping = undefined));
    return this.pumping ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    try {
      while ((this.needFull || this.dirty.size > 0) && !this.stopped) {
        if (this.needFull) {
          this.needFull = false;
          this.dirty.clear();
          await this.fullSync();
        } else {
          const batch = [...this.dirty];
          this.dirty.clear();
          this.apply(await readHashes(this.store.redis, batch));
        }
      }
      if (this.failing) this.opts.log.info('reading zones from the store works again');
      this.failing = false;
    } catch (err) {
      this.stats.errors++;
      // Logged once per outage: while the store is down every retry would fail the same way.
      if (!this.failing) this.opts.log.warn({ err: (err as Error).message }, 'reading zones from the store failed; serving the last good copy and retrying');
      this.failing = true;
      this.needFull = true;
      if (!this.stopped) {
        if (this.retry !== undefined) clearTimeout(this.retry);
        this.retry = setTimeout(() => void this.pump(), RETRY_MS);
        this.retry.unref();
      }
    }
  }

  private apply(read: Map<string, Record<string, string> | undefined>): void {
    this.stats.keyReads += read.size;
    if (this.state.apply(read)) this.onChange?.();
  }

  private async fullSync(): Promise<void> {
    const keys = await scanZoneKeys(this.store.redis, this.scheme);
    const read = await readHashes(this.store.redis, keys);
    // Keys that vanished since the last load are removed by reading them as absent.
    for (const k of this.state.keys()) if (!read.has(k)) read.set(k, undefined);
    this.stats.fullSyncs++;
    this.apply(read);
  }
}
