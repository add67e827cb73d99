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
 * Keys read per round trip. One pipeline of every key built 10k commands in one turn of the event
 * loop (~100 ms, and as long again decoding the replies) each time a watcher re-read the store.
 */
const READ_CHUNK = 500;

/**
 * Reads each key, `READ_CHUNK` at a time: strings by MGET, hashes by pipelined HGETALL. A key that
 * is gone, an empty hash, or a key of another type (someone replaced it: MGET answers nil, HGETALL
 * WRONGTYPE) reads as undefined.
 * @throws the first connection-level error: then nothing read can be trusted to be complete.
 */
export async function readValues<K extends StoreWatchKind>(
  redis: Redis,
  keys: readonly string[],
  kind: K,
): Promise<Map<string, StoreWatchValue<K> | undefined>> {
  const out = new Map<string, StoreWatchValue<K> | undefined>();
  for (let start = 0; start < keys.length; start += READ_CHUNK) {
    const chunk = keys.slice(start, start + READ_CHUNK);
    if (kind === 'string') {
      const values = await redis.mget(chunk);
      chunk.forEach((k, i) => out.set(k, present(values[i], kind)));
      continue;
    }
    const pipe = redis.pipeline();
    for (const k of chunk) pipe.hgetall(k);
    const results = (await pipe.exec()) ?? [];
    chunk.forEach((k, i) => {
      const [err, value] = results[i] ?? [new Error('no reply'), undefined];
      if (err !== null) {
        if (!String((err as Error).message).startsWith('WRONGTYPE')) throw err;
        out.set(k, undefined);
        return;
      }
      out.set(k, present(value, kind));
    });
  }
  return out;
}

function present<K extends StoreWatchKind>(value: unknown, kind: K): StoreWatchValue<K> | undefined {
  if (kind === 'string') return typeof value === 'string' ? (value as StoreWatchValue<K>) : undefined;
  // HGETALL of a missing key is an empty object; redis never keeps an empty hash.
  const h = value as Record<string, string> | null;
  return h === null || Object.keys(h).length === 0 ? undefined : (h as StoreWatchValue<K>);
}
