import type { Logger } from './logger.js';

/**
 * Contract of `StoreCapability.watch`: an in-memory view of some keys of the store, kept current
 * by the store plugin (keyspace notifications, or periodic re-scans where they cannot be enabled).
 * The consumer keeps the values; the watcher only remembers which keys it has delivered.
 */

/** Redis type of the watched keys: `hash` values are read with HGETALL, `string` values with GET. */
export type StoreWatchKind = 'hash' | 'string';

/** A key's value as delivered: a hash's fields, or a string. */
export type StoreWatchValue<K extends StoreWatchKind> = K extends 'hash' ? Record<string, string> : string;

/** Defaults of `StoreWatchOptions`. */
export const STORE_WATCH_DEFAULTS = {
  resyncMs: 30_000,
  pollMs: 1_000,
} as const;

/** What to watch and how. */
export interface StoreWatchOptions<K extends StoreWatchKind> {
  /**
   * Redis glob patterns of the keys (as for SCAN MATCH and PSUBSCRIBE). A key matching several is
   * delivered once.
   */
  patterns: readonly string[];
  /**
   * Type of the keys. A matching key of another type reads as absent (so does an empty hash;
   * an empty string is a value).
   */
  kind: K;
  /** Narrows the globs: keys that match a pattern but are not wanted. Default: every match. */
  accept?: (key: string) => boolean;
  /**
   * Period of a full re-read even with notifications, for changes that send no event (FLUSHALL,
   * a replica's full sync missed by the link check). Default 30000 ms; at least 50.
   */
  resyncMs?: number;
  /** Re-scan period when notifications cannot be enabled (CONFIG refused). Default 1000 ms; at least 50. */
  pollMs?: number;
  /** Where outages and mode changes are logged. Default: the store plugin's logger. */
  log?: Logger;
}

/**
 * One set of changes. `undefined` means the key is gone (deleted, expired, renamed away, or now of
 * another type).
 */
export interface StoreWatchBatch<K extends StoreWatchKind> {
  /**
   * True when `changes` holds every matching key as it is now (first load, periodic re-read,
   * after a reconnect, a replica's full sync): keys delivered before and now absent are included
   * as `undefined`, so the consumer may replace its whole view. False: only the keys that changed.
   */
  full: boolean;
  /** Key → current value, or `undefined` when it is gone. */
  changes: Map<string, StoreWatchValue<K> | undefined>;
}

/** Numbers for a consumer's `status()`. */
export interface StoreWatchStatus {
  /** `keyspace`: changes arrive as notifications; `poll`: periodic full re-reads (fallback). */
  mode: 'keyspace' | 'poll';
  /** Keys currently present (delivered and not gone since). */
  keys: number;
  /** Full loads done. */
  fullSyncs: number;
  /** Keys read one by one or in a full load. */
  keyReads: number;
  /** Failed reads (each retried with backoff). */
  errors: number;
}

/** A running watch. */
export interface StoreWatcher {
  /** Stops the notifications and timers and closes the watcher's connection. Idempotent. */
  stop(): Promise<void>;
  status(): StoreWatchStatus;
}
