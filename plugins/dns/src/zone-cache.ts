import { zoneKeyPatterns, zoneOfKey, type Logger, type StoreCapability, type StoreWatcher, type ZoneKeyScheme } from '@plexus/core';
import type { WildcardRules } from './config.js';
import type { ZoneView } from './zone.js';
import { ZoneState } from './zone-state.js';

/**
 * The in-memory copy of the zone hashes that every answer is made from, kept current by the
 * store's `watch` (full load, then only the keys that changed). Queries never wait on the store.
 */

export interface ZoneCacheOptions {
  zones: readonly string[];
  ttl: number;
  keyPrefix: string;
  keySuffix: string;
  log: Logger;
  /** Re-scan period when keyspace notifications are unavailable. Default 1000 ms (the store's). */
  pollMs?: number;
  /** Full re-read period even with notifications (changes that send no event). Default 30000 ms. */
  resyncMs?: number;
  /** Lookup rules the view is built for (config `wildcards`). Default `coredns`. */
  wildcards?: WildcardRules;
}

/** How changes reach us: notifications (immediate) or a periodic re-scan (fallback). */
export type SyncMode = 'keyspace' | 'poll';

export class ZoneCache {
  /** Called after every change of `view`. */
  onChange: (() => void) | undefined;
  private readonly scheme: ZoneKeyScheme;
  private readonly state: ZoneState;
  private watcher: StoreWatcher | undefined;

  constructor(
    private readonly store: Pick<StoreCapability, 'watch'>,
    private readonly opts: ZoneCacheOptions,
  ) {
    this.scheme = { prefix: opts.keyPrefix, suffix: opts.keySuffix, zones: opts.zones };
    this.state = new ZoneState(this.scheme, opts.ttl, (key, field, issue) => opts.log.warn({ key, field, issue }, 'skipped part of a DNS record'), opts.wildcards ?? 'coredns');
  }

  /** The current snapshot. Replaced as a whole on every change, never mutated. */
  get view(): ZoneView {
    return this.state.view;
  }

  get mode(): SyncMode {
    return this.watcher?.status().mode ?? 'keyspace';
  }

  /**
   * Loads every zone hash, then follows changes. Resolves once loaded.
   * @throws ERR_UNAVAILABLE when the first load fails: serving empty zones would hand out
   * NXDOMAINs that resolvers cache, so better not to start.
   */
  async start(): Promise<void> {
    if (this.watcher !== undefined) return;
    const { scheme, opts } = this;
    this.watcher = await this.store.watch(
      {
        patterns: zoneKeyPatterns(scheme),
        kind: 'hash',
        // The globs also match `xgateway.tf.`, which is not below `gateway.tf`.
        accept: (key) => zoneOfKey(key, scheme) !== undefined,
        resyncMs: opts.resyncMs,
        pollMs: opts.pollMs,
        log: opts.log,
      },
      // A full batch holds every key, so ZoneState re-parses only the fields whose text changed.
      (batch) => {
        if (this.state.apply(batch.changes)) this.onChange?.();
      },
    );
  }

  async stop(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.stop();
  }

  /** Numbers for `status()`. */
  status(): Record<string, unknown> {
    const w = this.watcher?.status();
    return { mode: w?.mode ?? this.mode, ...this.state.counts(), fullSyncs: w?.fullSyncs ?? 0, keyReads: w?.keyReads ?? 0, errors: w?.errors ?? 0 };
  }
}
