import type { Redis } from 'ioredis';
import { isInZone, normalizeName } from './names.js';

/**
 * How zone hashes are named in the store (COMPAT.md §1: `prefix + zone-with-dot + suffix`) and
 * how they are found and read.
 */

export interface KeyScheme {
  prefix: string;
  suffix: string;
  /** Configured zones, normalized. */
  zones: readonly string[];
}

/** Escapes Redis glob specials so prefix/suffix/zone text matches itself only. */
function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Zone part of a pattern, case-insensitive: `[gG][aA]...`, since DNS names are. */
function globCaseless(s: string): string {
  return [...s].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : globEscape(c))).join('');
}

/** Glob patterns that match every key of a configured zone and of the zones below it. */
export function zoneKeyPatterns(scheme: KeyScheme): string[] {
  return scheme.zones.map((z) => `${globEscape(scheme.prefix)}*${globCaseless(`${z}.`)}${globEscape(scheme.suffix)}`);
}

/**
 * The zone a store key holds, or undefined when the key is not a zone hash of ours (the glob
 * also matches `xgateway.tf.`, which is not below `gateway.tf`).
 */
export function zoneOfKey(key: string, scheme: KeyScheme): string | undefined {
  if (!key.startsWith(scheme.prefix) || !key.endsWith(scheme.suffix) || key.length < scheme.prefix.length + scheme.suffix.length + 1) return undefined;
  const raw = key.slice(scheme.prefix.length, key.length - scheme.suffix.length);
  if (!raw.endsWith('.')) return undefined;
  const name = normalizeName(raw);
  return scheme.zones.some((z) => isInZone(name, z)) ? name : undefined;
}

/** Every key of ours, by SCAN (never KEYS: a big store must not stall for a DNS node's start). */
export async function scanZoneKeys(redis: Redis, scheme: KeyScheme): Promise<string[]> {
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
