import type { Redis } from 'ioredis';
import { zoneKeyPatterns, zoneOfKey, type ZoneKeyScheme } from '@plexus/core';

/** How zone hashes (named as in @plexus/core's CoreDNS format) are found and read. */

/** Every key of ours, by SCAN (never KEYS: a big store must not stall for a DNS node's start). */
export async function scanZoneKeys(redis: Redis, scheme: ZoneKeyScheme): Promise<string[]> {
  const keys = new Set<string>();
  for (const pattern of zoneKeyPatterns(scheme)) {
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000, 'TYPE', 'hash');
      cursor = next;
      for (const k of batch) if (zoneOfKey(k, scheme) !== undefined) keys.add(k);
    } while (cursor !== '0');
  }
  return [...keys];
}

/**
 * HGETALL of each key in one pipeline. A key that is gone, or is not a hash any more, reads as
 * undefined (its zone disappears).
 */
export async function readHashes(redis: Redis, keys: readonly string[]): Promise<Map<string, Record<string, string> | undefined>> {
  const out = new Map<string, Record<string, string> | undefined>();
  if (keys.length === 0) return out;
  const pipe = redis.pipeline();
  for (const k of keys) pipe.hgetall(k);
  const results = (await pipe.exec()) ?? [];
  keys.forEach((k, i) => {
    const [err, value] = results[i] ?? [new Error('no reply'), undefined];
    if (err !== null) {
      // WRONGTYPE: someone replaced the hash by another type; anything else is a connection problem.
      if (!String((err as Error).message).startsWith('WRONGTYPE')) throw err;
      out.set(k, undefined);
      return;
    }
    const h = value as Record<string, string>;
    out.set(k, Object.keys(h).length === 0 ? undefined : h);
  });
  return out;
}
