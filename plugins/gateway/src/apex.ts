import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { mergeRecords, zoneKey } from '@plexus/core';
import type { GatewayConfig } from './config.js';

/**
 * Points each zone's apex (`@`) at the gateway's own public addresses. Exposed names are CNAMEs
 * to the threebot domain (COMPAT §4), so without these A/AAAA records an exposed name would
 * resolve to nothing. Merged like any registration: records an operator added by hand stay.
 * Runs at start; WATCH/MULTI so a concurrent registration on `@` is not lost.
 */
export async function seedApexRecords(redis: Redis, config: GatewayConfig): Promise<number> {
  const v4 = config.publicIps.filter((ip) => isIP(ip) === 4);
  const v6 = config.publicIps.filter((ip) => isIP(ip) === 6);
  if (v4.length === 0 && v6.length === 0) return 0;
  let written = 0;
  for (const zone of config.zones) {
    const key = zoneKey(zone, config.keyPrefix, config.keySuffix);
    for (let attempt = 0; attempt < 10; attempt++) {
      const conn = redis.duplicate();
      try {
        // The store's connections queue nothing while offline: wait until this one is up.
        if (conn.status !== 'ready') {
          await new Promise<void>((resolve, reject) => {
            conn.once('ready', () => resolve());
            conn.once('error', reject);
          });
        }
        await conn.watch(key);
        const before = await conn.hget(key, '@');
        let next = before;
        if (v4.length > 0) next = mergeRecords(next, 'a', v4, config.ttl);
        if (v6.length > 0) next = mergeRecords(next, 'aaaa', v6, config.ttl);
        if (next === before) break;
        const ok = await conn.multi().hset(key, '@', next!).exec();
        if (ok !== null) {
          written++;
          break;
        }
      } finally {
        conn.disconnect();
      }
    }
  }
  return written;
}
