import type { Redis } from 'ioredis';
import type { StoreWatchKind, StoreWatchValue } from '@plexus/core';

/** Finding and reading keys by glob, for watchers: SCAN, then one pipelined read per key. */

/** Keys SCAN returns per call: big enough for few round trips, small enough not to stall redis. */
const SCAN_COUNT = 1000;

/**
 * Every key matching one of `patterns` whose type is `kind` and that `accept` takes, each once.
 * By SCAN, never KEYS: a big store must not stall while a consumer starts.
 */
export async function scanKeys(
  redis: Redis,
  patterns: readonly string[],
  kind: StoreWatchKind,
  accept: (key: string) => boolean = () => true,
): Promise<string[]> {
  const keys = new Set<string>();
  for (const pattern of patterns) {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT, 'TYPE', kind);
      cursor = next;
      for (const k of batch) if (accept(k)) keys.add(k);
    } while (cursor !== '0');
  }
  return [...keys];
}

/**
 * Reads each key (HGETALL or GET) in one pipeline. A key that is gone, an empty hash, or a key of
 * another type (WRONGTYPE: someone replaced it) reads as undefined.
 * @throws the first connection-level error: then nothing read can be trusted to be complete.
 */
export async function readValues<K extends StoreWatchKind>(
  redis: Redis,
  keys: readonly string[],
  kind: K,
): Promise<Map<string, StoreWatchValue<K> | undefined>> {
  const out = new Map<string, StoreWatchValue<K> | undefined>();
  if (keys.length === 0) return out;
  const pipe = redis.pipeline();
  for (const k of keys) {
    if (kind === 'hash') pipe.hgetall(k);
    else pipe.get(k);
  }
  const results = (await pipe.exec()) ?? [];
  keys.forEach((k, i) => {
    const [err, value] = results[i] ?? [new Error('no reply'), undefined];
    if (err !== null) {
      if (!String((err as Error).message).startsWith('WRONGTYPE')) throw err;
      out.set(k, undefined);
      return;
    }
    out.set(k, present(value, kind));
  });
  return out;
}

function present<K extends StoreWatchKind>(value: unknown, kind: K): StoreWatchValue<K> | undefined {
  if (kind === 'string') return typeof value === 'string' ? (value as StoreWatchValue<K>) : undefined;
  // HGETALL of a missing key is an empty object; redis never keeps an empty hash.
  const h = value as Record<string, string> | null;
  return h === null || Object.keys(h).length === 0 ? undefined : (h as StoreWatchValue<K>);
}
