import { isIP } from 'node:net';
import type { Redis } from 'ioredis';
import { mergeRecords, zoneKey } from '@plexus/core';
import type { GatewayConfig } from './config.js';

/**
 * Gives each zone an apex (`@`) pointing at the gateway's own public addresses **when the zone
 * has none**. Exposed names are CNAMEs to the threebot domain (COMPAT §4), so a fresh zone needs
 * these A/AAAA records or an exposed name resolves to nothing. An existing `@` is the operator's
 * and is never merged into: merging on every start would bring back an address the operator
 * removed by hand, and change their data on each restart. HSETNX makes "only when absent" one
 * atomic step, so a concurrent write of `@` is never overwritten.
 * @returns how many zones got an apex.
 */
export async function seedApexRecords(redis: Redis, config: GatewayConfig): Promise<number> {
  const v4 = config.publicIps.filter((ip) => isIP(ip) === 4);
  const v6 = config.publicIps.filter((ip) => isIP(ip) === 6);
  if (v4.length === 0 && v6.length === 0) return 0;
  let value: string | null = null;
  if (v4.length > 0) value = mergeRecords(value, 'a', v4, config.ttl);
  if (v6.length > 0) value = mergeRecords(value, 'aaaa', v6, config.ttl);
  let written = 0;
  for (const zone of config.zones) written += await redis.hsetnx(zoneKey(zone, config.keyPrefix, config.keySuffix), '@', value!);
  return written;
}
