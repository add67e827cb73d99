import type { Redis } from 'ioredis';
import { PlexusError, RedisScript, tcprouterKey, zoneKey } from '@plexus/core';
import { placesOf } from './domains.js';

/**
 * The gateway's Redis writes. Record values are computed in TypeScript (the shared CoreDNS format
 * of @plexus/core keeps the exact JSON; Redis' cjson would reorder keys and escape `/`), then applied by one Lua script that
 * first checks every value is still what we read (compare-and-set) and only then writes them all.
 * On a conflict we re-read and recompute, so two registrations of different types on one field
 * both end up in it, and an expose (tcp service + two DNS fields) is all-or-nothing.
 *
 * Besides the COMPAT keys, an index lets `list` and `status` work without scanning the keyspace:
 *   gateway:names            set of names that own at least one entry
 *   gateway:name:<name>      set of entries, each `["dns",domain,field]` or `["tcp",fqdn]`
 *   gateway:count:dns|tcp    number of indexed DNS fields / tcprouter services
 */
const NAMES = 'gateway:names';
const COUNT_DNS = 'gateway:count:dns';
const COUNT_TCP = 'gateway:count:tcp';
const indexKey = (owner: string): string => `gateway:name:${owner}`;
const MAX_ATTEMPTS = 20;

/** A place the gateway writes: a field of a zone hash, or a tcprouter service key. */
export type Target = { kind: 'dns'; domain: string; field: string } | { kind: 'tcp'; fqdn: string };

/** New content of a target; null deletes it. `checked: false` overwrites whatever is there. */
export interface Change {
  target: Target;
  value: string | null;
  checked?: boolean;
}

// KEYS: [names] then per change [target, index, counter]. ARGV: [count] then per change
// [kind, field, check, expected, action, value, member, owner]; check '-' none, '0' absent, '1' equal.
const APPLY = new RedisScript(
  'gateway_apply',
  `local n = tonumber(ARGV[1])
for i = 0, n - 1 do
  local a, key = 1 + i * 8, KEYS[2 + i * 3]
  local check = ARGV[a + 3]
  if check ~= '-' then
    local cur
    if ARGV[a + 1] == 'h' then cur = redis.call('HGET', key, ARGV[a + 2]) else cur = redis.call('GET', key) end
    if check == '0' and cur then return 0 end
    if check == '1' and cur ~= ARGV[a + 4] then return 0 end
  end
end
for i = 0, n - 1 do
  local a, key, idx, counter = 1 + i * 8, KEYS[2 + i * 3], KEYS[3 + i * 3], KEYS[4 + i * 3]
  local hash, field, member, owner = ARGV[a + 1] == 'h', ARGV[a + 2], ARGV[a + 7], ARGV[a + 8]
  if ARGV[a + 5] == 'set' then
    if hash then redis.call('HSET', key, field, ARGV[a + 6]) else redis.call('SET', key, ARGV[a + 6]) end
    if redis.call('SADD', idx, member) == 1 then redis.call('INCR', counter) end
    redis.call('SADD', KEYS[1], owner)
  else
    if hash then redis.call('HDEL', key, field) else redis.call('DEL', key) end
    if redis.call('SREM', idx, member) == 1 then redis.call('DECR', counter) end
    if redis.call('SCARD', idx) == 0 then redis.call('SREM', KEYS[1], owner) end
  end
end
return 1`,
);

/** Index member of a target; JSON so domains and fields can never run into each other. */
export function memberOf(target: Target): string {
  return target.kind === 'dns' ? JSON.stringify(['dns', target.domain, target.field]) : JSON.stringify(['tcp', target.fqdn]);
}

/** Inverse of `memberOf`; undefined for anything we did not write. */
export function targetOf(member: string): Target | undefined {
  try {
    const m = JSON.parse(member) as unknown;
    if (Array.isArray(m) && m[0] === 'dns' && typeof m[1] === 'string' && typeof m[2] === 'string') return { kind: 'dns', domain: m[1], field: m[2] };
    if (Array.isArray(m) && m[0] === 'tcp' && typeof m[1] === 'string') return { kind: 'tcp', fqdn: m[1] };
  } catch {
    /* not ours */
  }
  return undefined;
}

export class GatewayStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: { keyPrefix: string; keySuffix: string },
  ) {}

  /** Redis key of a target (the zone hash for DNS fields). */
  keyOf(target: Target): string {
    return target.kind === 'dns' ? zoneKey(target.domain, this.keys.keyPrefix, this.keys.keySuffix) : tcprouterKey(target.fqdn);
  }

  /**
   * Where DNS servers will actually read a record for `target.fqdn`: the most specific existing
   * zone hash between the fqdn and the requested domain (COMPAT §1 zone selection). Without this a
   * record written to `gateway.tf.` for `www.alice` would be shadowed, unanswered, once an expose
   * created the hash `alice.gateway.tf.`.
   */
  async answeringPlace<T extends { fqdn: string; domain: string; field: string }>(target: T): Promise<T> {
    const more = placesOf(target.fqdn, target.domain).slice(0, -1);
    if (more.length === 0) return target;
    const p = this.redis.pipeline();
    for (const place of more) p.exists(zoneKey(place.domain, this.keys.keyPrefix, this.keys.keySuffix));
    const found = ((await p.exec()) ?? []).findIndex(([, n]) => n === 1);
    return found < 0 ? target : { ...target, domain: more[found]!.domain, field: more[found]!.field };
  }

  /** Current values of `targets`, in order; null where absent. */
  async read(targets: readonly Target[]): Promise<(string | null)[]> {
    if (targets.length === 0) return [];
    const p = this.redis.pipeline();
    for (const t of targets) {
      if (t.kind === 'dns') p.hget(this.keyOf(t), t.field);
      else p.get(this.keyOf(t));
    }
    const results = (await p.exec()) ?? [];
    return results.map(([err, v]) => {
      if (err) throw err;
      return (v as string | null) ?? null;
    });
  }

  /**
   * Reads `targets`, lets `compute` derive the changes from their current values, and applies
   * them atomically if nothing changed meanwhile; otherwise starts over. `owner`'s index follows.
   * Returns the values `compute` saw last, and the changes written.
   */
  async transact(owner: string, targets: readonly Target[], compute: (current: (string | null)[]) => Change[]): Promise<{ current: (string | null)[]; changes: Change[] }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const current = await this.read(targets);
      const changes = compute(current);
      const keys = [NAMES];
      const args: (string | number)[] = [changes.length];
      for (const c of changes) {
        const i = targets.findIndex((t) => memberOf(t) === memberOf(c.target));
        const seen = i < 0 ? null : current[i]!;
        const check = c.checked === false ? '-' : seen === null ? '0' : '1';
        keys.push(this.keyOf(c.target), indexKey(owner), c.target.kind === 'dns' ? COUNT_DNS : COUNT_TCP);
        args.push(c.target.kind === 'dns' ? 'h' : 's', c.target.kind === 'dns' ? c.target.field : '', check, seen ?? '', c.value === null ? 'del' : 'set', c.value ?? '', memberOf(c.target), owner);
      }
      if (changes.length === 0 || (await APPLY.run(this.redis, keys, args)) === 1) return { current, changes };
    }
    throw new PlexusError('ERR_UNAVAILABLE', `too many concurrent changes to the same records; retry`);
  }

  /** Entries indexed for `owner`, sorted for stable output. */
  async entries(owner: string): Promise<Target[]> {
    const members = await this.redis.smembers(indexKey(owner));
    return members
      .sort()
      .map(targetOf)
      .filter((t): t is Target => t !== undefined);
  }

  /** Counts for `plexus status`. */
  async counts(): Promise<{ names: number; dnsFields: number; tcpServices: number }> {
    const [names, dns, tcp] = await Promise.all([this.redis.scard(NAMES), this.redis.get(COUNT_DNS), this.redis.get(COUNT_TCP)]);
    return { names, dnsFields: Number(dns ?? 0), tcpServices: Number(tcp ?? 0) };
  }
}
