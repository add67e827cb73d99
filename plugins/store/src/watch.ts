import type { Redis } from 'ioredis';
import {
  PlexusError,
  STORE_WATCH_DEFAULTS,
  type Logger,
  type StoreWatchBatch,
  type StoreWatchKind,
  type StoreWatchOptions,
  type StoreWatchStatus,
  type StoreWatchValue,
  type StoreWatcher,
} from '@plexus/core';
import { closeClient } from './client.js';
import { readValues, scanKeys } from './scan.js';

/** What a watcher needs from the store. */
export interface WatchSource {
  /** The shared command connection; throws once the store is stopped. */
  redis(): Redis;
  /** A new connection with the store's settings, for the subscription. */
  duplicate(): Redis;
  /** Used when the options name no logger. */
  log: Logger;
}

/** First and longest pause between retries while the store cannot be read. */
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 2_000;
/** How often the replication state is checked: a replica's full sync from its master sends no event. */
const REPLICATION_CHECK_MS = 1_000;
/** Shortest resync/poll period accepted: below it, re-reads would keep redis busy. */
const MIN_PERIOD_MS = 50;

/**
 * Keeps a consumer told of every key matching some globs: a full load by SCAN, then keyspace
 * notifications that name the keys to read again (or periodic full loads where notifications
 * cannot be enabled). Work is done one batch at a time, in order, so a key's reads reach the
 * consumer in the order they were made. Only the set of delivered keys is kept, not their values.
 */
export class StoreWatch<K extends StoreWatchKind> implements StoreWatcher {
  /** Called once when the watcher stops (the store forgets it). */
  onStop: (() => void) | undefined;
  private mode: 'keyspace' | 'poll' = 'keyspace';
  private readonly log: Logger;
  private readonly accept: (key: string) => boolean;
  /** Keys delivered as present and not delivered as gone since. */
  private known = new Set<string>();
  private readonly dirty = new Set<string>();
  private needFull = true;
  private pumping: Promise<void> | undefined;
  private sub: Redis | undefined;
  private timers: NodeJS.Timeout[] = [];
  private retry: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopping: Promise<void> | undefined;
  private readonly stats = { fullSyncs: 0, keyReads: 0, errors: 0 };

  constructor(
    private readonly source: WatchSource,
    private readonly options: StoreWatchOptions<K>,
    private readonly onChange: (batch: StoreWatchBatch<K>) => void,
  ) {
    this.log = options.log ?? source.log;
    this.accept = options.accept ?? (() => true);
    const { patterns, resyncMs, pollMs } = options;
    if (patterns.length === 0) throw new PlexusError('ERR_INTERNAL', 'store watch: no key patterns given');
    for (const ms of [resyncMs, pollMs]) {
      if (ms !== undefined && !(ms >= MIN_PERIOD_MS)) throw new PlexusError('ERR_INTERNAL', `store watch: periods must be at least ${MIN_PERIOD_MS} ms, got ${ms}`);
    }
  }

  /**
   * Subscribes (or falls back to polling), then loads everything and hands it to the consumer as
   * the first full batch. @throws ERR_UNAVAILABLE when that first load fails: a consumer serving
   * empty data would be worse than one that does not start.
   */
  async start(): Promise<void> {
    try {
      const redis = this.source.redis();
      if (await this.enableNotifications(redis)) await this.subscribe(redis);
      else this.mode = 'poll';
    } catch (cause) {
      await this.stop();
      throw new PlexusError('ERR_UNAVAILABLE', `could not watch the store: ${(cause as Error).message}`, { cause });
    }
    // Nothing is scheduled once stopped (the store may stop while a watch starts).
    const every = (ms: number, fn: () => void): void => {
      if (this.stopping === undefined) this.timers.push(setInterval(fn, ms).unref());
    };
    if (this.mode === 'poll') every(this.options.pollMs ?? STORE_WATCH_DEFAULTS.pollMs, () => this.requestFull());
    else every(this.options.resyncMs ?? STORE_WATCH_DEFAULTS.resyncMs, () => this.requestFull());
    // The first check, before the first load, is the state that load reflects.
    const checkReplication = this.replicationCheck();
    await checkReplication();
    every(REPLICATION_CHECK_MS, () => void checkReplication());
    this.requestFull();
    await this.pump();
    if (this.stats.fullSyncs === 0) {
      await this.stop();
      throw new PlexusError('ERR_UNAVAILABLE', `could not read ${this.options.patterns.join(' ')} from the store`);
    }
    if (this.mode === 'poll') {
      this.log.warn({ everyMs: this.options.pollMs ?? STORE_WATCH_DEFAULTS.pollMs }, 'store has no keyspace notifications and refused CONFIG SET: re-scanning periodically');
    }
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      this.timers = [];
      clearTimeout(this.retry);
      const sub = this.sub;
      this.sub = undefined;
      if (sub !== undefined) await closeClient(sub);
      // A read in flight finishes without delivering (drain checks `stopping`).
      await this.pumping;
      this.onStop?.();
    })();
    return this.stopping;
  }

  status(): StoreWatchStatus {
    return { mode: this.mode, keys: this.known.size, ...this.stats };
  }

  /**
   * Needs `K` plus generic, expiry and the kind's events (`A` has them all); turns them on when
   * it may. @returns false when the store refuses (CONFIG renamed or not permitted): poll instead.
   * @throws when the store does not answer at all.
   */
  private async enableNotifications(redis: Redis): Promise<boolean> {
    try {
      const got = (await redis.config('GET', 'notify-keyspace-events')) as string[];
      const flags = got[1] ?? '';
      const has = (c: string): boolean => flags.includes(c) || (flags.includes('A') && 'g$lshzxetd'.includes(c));
      if (has('K') && has('g') && has('x') && has(this.options.kind === 'hash' ? 'h' : '$')) return true;
      await redis.config('SET', 'notify-keyspace-events', `${flags.replace(/[KA]/g, '')}KA`);
      this.log.info({ was: flags }, 'enabled keyspace notifications on the store (notify-keyspace-events KA)');
      return true;
    } catch (err) {
      // An answer (unknown command, NOPERM, ...) is a refusal; anything else is an outage.
      if ((err as Error).name !== 'ReplyError') throw err;
      this.log.debug({ err }, 'CONFIG GET/SET notify-keyspace-events refused');
      return false;
    }
  }

  private async subscribe(redis: Redis): Promise<void> {
    const sub = this.source.duplicate();
    this.sub = sub;
    // Resubscribed by hand, so the full re-read starts only once the subscription is back.
    sub.options.autoResubscribe = false;
    const db = (redis.options.db as number | undefined) ?? 0;
    const prefix = `__keyspace@${db}__:`;
    const channels = this.options.patterns.map((p) => prefix + p);
    sub.on('pmessage', (_pattern: string, channel: string) => this.markDirty(channel.slice(prefix.length)));
    let readies = 0;
    sub.on('ready', () => {
      if (readies++ === 0 || this.stopping !== undefined) return;
      // Events were lost while the link was down: everything is read again.
      sub.psubscribe(...channels).then(
        () => this.requestFull(),
        (err: unknown) => this.log.debug({ err }, 'store watch: resubscribing failed; retried on the next reconnect'),
      );
    });
    await sub.psubscribe(...channels);
  }

  /**
   * On a replica, a full sync from the master replaces the data without any keyspace event. A link
   * seen down and up again, or a new replication id (another master, a promotion), triggers a full
   * re-read at once; a flap shorter than the check period is caught by the periodic re-read.
   */
  private replicationCheck(): () => Promise<void> {
    let last: string | undefined;
    return async () => {
      let redis: Redis;
      try {
        redis = this.source.redis();
      } catch {
        return;
      }
      await redis.info('replication').then(
        (info) => {
          const field = (name: string): string => new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(info)?.[1] ?? '';
          const replica = field('role') === 'slave';
          const up = !replica || (field('master_link_status') === 'up' && field('master_sync_in_progress') !== '1');
          const now = `${field('role')} ${up ? 'up' : 'down'} ${field('master_replid')}`;
          if (last !== undefined && now !== last && up) this.requestFull();
          last = now;
        },
        // The retry loop re-reads everything once the store answers again.
        () => (last = undefined),
      );
    };
  }

  private markDirty(key: string): void {
    if (!this.accept(key)) return;
    this.dirty.add(key);
    void this.pump();
  }

  private requestFull(): void {
    this.needFull = true;
    void this.pump();
  }

  private pump(): Promise<void> {
    // The running loop picks up work added while it runs, so joining it is enough.
    if (this.pumping === undefined && this.stopping === undefined) this.pumping = this.drain().finally(() => (this.pumping = undefined));
    return this.pumping ?? Promise.resolve();
  }

  /**
   * Applies pending work one batch at a time: an event that arrives during a full load is read
   * again after it, so its newer value comes last.
   */
  private async drain(): Promise<void> {
    try {
      while ((this.needFull || this.dirty.size > 0) && this.stopping === undefined) {
        if (this.needFull) {
          this.needFull = false;
          this.dirty.clear();
          await this.fullSync();
        } else {
          const keys = [...this.dirty];
          this.dirty.clear();
          await this.readChanged(keys);
        }
      }
      if (this.failures > 0) this.log.info({ patterns: this.options.patterns }, 'reading watched keys from the store works again');
      this.failures = 0;
    } catch (err) {
      this.stats.errors++;
      // Logged once per outage: while the store is down every retry fails the same way.
      if (this.failures === 0) this.log.warn({ err: (err as Error).message, patterns: this.options.patterns }, 'reading watched keys from the store failed; keeping the last good copy and retrying');
      this.failures++;
      // Events may have been lost with the failed read: everything is read again.
      this.needFull = true;
      if (this.stopping === undefined) {
        clearTimeout(this.retry);
        this.retry = setTimeout(() => void this.pump(), Math.min(RETRY_MIN_MS * 2 ** (this.failures - 1), RETRY_MAX_MS)).unref();
      }
    }
  }

  private async fullSync(): Promise<void> {
    const { patterns, kind } = this.options;
    const redis = this.source.redis();
    const keys = await scanKeys(redis, patterns, kind, this.accept);
    const read = await readValues(redis, keys, kind);
    if (this.stopping !== undefined) return;
    this.stats.fullSyncs++;
    this.stats.keyReads += keys.length;
    const changes = new Map<string, StoreWatchValue<K> | undefined>();
    for (const [k, v] of read) if (v !== undefined) changes.set(k, v);
    // Keys delivered before and absent now are gone.
    for (const k of this.known) if (!changes.has(k)) changes.set(k, undefined);
    this.known = new Set([...read.keys()].filter((k) => read.get(k) !== undefined));
    this.deliver({ full: true, changes });
  }

  private async readChanged(keys: string[]): Promise<void> {
    const read = await readValues(this.source.redis(), keys, this.options.kind);
    if (this.stopping !== undefined) return;
    this.stats.keyReads += keys.length;
    const changes = new Map<string, StoreWatchValue<K> | undefined>();
    for (const [k, v] of read) {
      if (v !== undefined) {
        this.known.add(k);
        changes.set(k, v);
      } else if (this.known.delete(k)) {
        // Only keys the consumer holds are reported gone; a key never seen is no news.
        changes.set(k, undefined);
      }
    }
    if (changes.size > 0) this.deliver({ full: false, changes });
  }

  private deliver(batch: StoreWatchBatch<K>): void {
    try {
      this.onChange(batch);
    } catch (err) {
      // The consumer's bug must not look like a store outage (which would re-read in a loop).
      this.log.error({ err }, 'a store watch consumer failed on a batch');
    }
  }
}
