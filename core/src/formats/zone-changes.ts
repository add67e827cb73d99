/**
 * The gateway's zone change stream: one entry per zone-hash field the gateway writes, in the same
 * script as the write, `k` the hash's key and `f` the field (the value is read from the hash: the
 * entry says only where to look). Written by the gateway, followed by DNS nodes and the api's
 * `/events`, so that a change costs a read of one field, never of the zone.
 */
export const ZONE_CHANGE_STREAM = 'gateway:zone-changes';

/** Orders Redis stream ids (`ms-seq`) numerically: -1, 0 or 1. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}

/**
 * Whether entries after `lastId` left the stream before a reader got them, from the reply of
 * `XINFO STREAM` (Redis ≥ 7.0): deleted (XDEL moves `max-deleted-entry-id`) or trimmed (MAXLEN
 * moves only the first entry: it is past `lastId` while entries were removed). It may say true
 * when a trim stopped exactly at `lastId`: then a reader re-reads for nothing, but never misses.
 */
export function streamEntriesLost(info: readonly unknown[], lastId: string): boolean {
  const get = (name: string): unknown => {
    const i = info.indexOf(name);
    return i < 0 ? undefined : info[i + 1];
  };
  const deleted = get('max-deleted-entry-id');
  if (typeof deleted === 'string' && compareStreamIds(deleted, lastId) > 0) return true;
  const first = get('recorded-first-entry-id');
  return typeof first === 'string' && first !== '0-0' && compareStreamIds(first, lastId) > 0 && Number(get('entries-added')) > Number(get('length'));
}

/** The zone hash key (`k`) and field (`f`) an entry's flat field list names, or undefined when it lacks one. */
export function zoneChangeOf(kv: readonly string[]): { key: string; field: string } | undefined {
  let key: string | undefined;
  let field: string | undefined;
  for (let i = 0; i + 1 < kv.length; i += 2) {
    if (kv[i] === 'k') key = kv[i + 1];
    else if (kv[i] === 'f') field = kv[i + 1];
  }
  return key === undefined || field === undefined ? undefined : { key, field };
}
