import type { Redis } from 'ioredis';
import { PlexusError, relativeName, tcprouterKey, zoneKey } from '@plexus/core';
import { APPLY, caselessSuffixGlob, ZONE_CHANGES, ZONE_CHANGES_MAXLEN } from './apply-script.js';
import { placesOf } from './domains.js';
import { place, type Guard, type Placement } from './placement.js';

/**
 * The gateway's Redis writes. Record values are computed in TypeScript (the shared CoreDNS format
 * of @plexus/core keeps the exact JSON; Redis' cjson would reorder keys and escape `/`), then applied by one Lua script that
 * first checks every value is still what we read (compare-and-set) and only then writes them all
 * (`apply-script.ts`). On a conflict we re-read and recompute, so two registrations of different
 * types on one field both end up in it, and an expose (tcp service + DNS field) is all-or-nothing.
 * A write that creates a deeper zone hash moves the names below it there in the same script
 * (`placement.ts`), so no record is ever left shadowed.
 *
 * Besides the COMPAT keys, an index lets `list` and `status` work without scanning the keyspace:
 *   gateway:names            set of names that own at least one entry
 *   gateway:name:<name>      set of entries, each `["dns",domain,field]` or `["tcp",fqdn]`
 *   gateway:count:dns|tcp    number of indexed DNS fields / tcprouter services
 *   gateway:zone-changes     stream naming each zone-hash field written (`apply-script.ts`)
 */
const NAMES = 'gateway:names';
const COUNT_DNS = 'gateway:count:dns';
const COUNT_TCP = 'gateway:count:tcp';
const INDEX_PREFIX = 'gateway:name:';
const indexKey = (owner: string): string => `${INDEX_PREFIX}${owner}`;
const MAX_ATTEMPTS = 20;

/** A place the gateway writes: a field of a zone hash, or a tcprouter service key. */
export type Target = { kind: 'dns'; domain: string; field: string } | { kind: 'tcp'; fqdn: string };

/**
 * What a write relies on beside the values it read: hashes that must (not) exist, hashes it
 * creates by splitting their parent, and where a target created that way reads its value from.
 */
export interface WritePlan {
  guards?: Guard[];
  splits?: { parent: string; child: string; label: string; zone: string }[];
  /** Target member → the parent field holding its value until the split. */
  sources?: Map<string, { kind: 'dns'; domain: string; field: string }>;
}

/** The write plan of placements: their guards, splits and sources, merged. */
export function planOf(placements: readonly Placement[]): WritePlan {
  const plan: Required<WritePlan> = { guards: [], splits: [], sources: new Map() };
  for (const p of placements) {
    plan.guards.push(...p.guards);
    if (p.split === undefined) continue;
    if (!plan.splits.some((s) => s.child === p.domain)) plan.splits.push({ parent: p.split.parent, child: p.domain, label: p.split.label, zone: p.zone });
    plan.sources.set(memberOf({ kind: 'dns', domain: p.domain, field: p.field }), { kind: 'dns', domain: p.split.parent, field: p.split.from });
  }
  return plan;
}

/** What one attempt of a write reads, and what it relies on. */
export interface Step {
  targets: Target[];
  plan?: WritePlan;
}

/** New content of a target; null deletes it. `checked: false` overwrites whatever is there. */
export interface Change {
  target: Target;
  value: string | null;
  checked?: boolean;
}

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
   * Where a record for `fqdn` asked for in hash `requested` must go (see `placement.ts`), from the
   * hashes that exist now; the write checks them again.
   */
  async locate(fqdn: string, requested: string, zone: string, owner: string): Promise<Placement> {
    const chain = placesOf(fqdn, zone);
    const found = await this.existing(chain.map((p) => p.domain));
    return place(fqdn, requested, zone, owner, (d) => found.has(d));
  }

  /** The subset of `domains` whose hash exists. */
  async existing(domains: readonly string[]): Promise<Set<string>> {
    if (domains.length === 0) return new Set();
    const p = this.redis.pipeline();
    for (const d of domains) p.exists(zoneKey(d, this.keys.keyPrefix, this.keys.keySuffix));
    const results = (await p.exec()) ?? [];
    return new Set(domains.filter((_, i) => results[i]?.[1] === 1));
  }

  /** Current values of `targets`, in order; null where absent. A target created by a split reads its source field. */
  async read(targets: readonly Target[], plan: WritePlan = {}): Promise<(string | null)[]> {
    if (targets.length === 0) return [];
    const p = this.redis.pipeline();
    for (const t of targets) {
      const src = plan.sources?.get(memberOf(t));
      if (src !== undefined) p.hget(this.keyOf(src), src.field);
      else if (t.kind === 'dns') p.hget(this.keyOf(t), t.field);
      else p.get(this.keyOf(t));
    }
    const results = (await p.exec()) ?? [];
    return results.map(([err, v]) => {
      if (err) throw err;
      return (v as string | null) ?? null;
    });
  }

  /**
   * Lets `prepare` say what to read (targets, and the plan of hashes the write relies on), reads
   * it, lets `compute` derive the changes from the current values, and applies them atomically if
   * nothing changed meanwhile; otherwise starts over from `prepare`, so placements follow hashes
   * that appeared. Splits of the plan happen in the same step; `owner`'s index follows.
   * Returns what `prepare` and `compute` gave last, and the values `compute` saw.
   */
  async transact(owner: string, prepare: () => Step | Promise<Step>, compute: (current: (string | null)[], step: Step) => Change[]): Promise<{ step: Step; current: (string | null)[]; changes: Change[] }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const step = await prepare();
      const plan = step.plan ?? {};
      const current = await this.read(step.targets, plan);
      const changes = compute(current, step);
      if (changes.length === 0) return { step, current, changes };
      if ((await APPLY.run(this.redis, ...this.scriptArgs(owner, step.targets, current, changes, plan))) === 1) return { step, current, changes };
    }
    throw new PlexusError('ERR_UNAVAILABLE', `too many concurrent changes to the same records; retry`);
  }

  private scriptArgs(owner: string, targets: readonly Target[], current: (string | null)[], changes: Change[], plan: WritePlan): [string[], (string | number)[]] {
    const guards = plan.guards ?? [];
    const splits = plan.splits ?? [];
    const keys = [NAMES, ...guards.map((g) => this.keyOf({ kind: 'dns', domain: g.domain, field: '@' }))];
    const args: (string | number)[] = [guards.length, changes.length, splits.length, INDEX_PREFIX, ...guards.map((g) => (g.exists ? '1' : '0'))];
    for (const c of changes) {
      const i = targets.findIndex((t) => memberOf(t) === memberOf(c.target));
      const seen = i < 0 ? null : current[i]!;
      const check = c.checked === false ? '-' : seen === null ? '0' : '1';
      const src = plan.sources?.get(memberOf(c.target));
      const target = this.keyOf(c.target);
      keys.push(target, indexKey(owner), c.target.kind === 'dns' ? COUNT_DNS : COUNT_TCP, src === undefined ? target : this.keyOf(src));
      args.push(c.target.kind === 'dns' ? 'h' : 's', c.target.kind === 'dns' ? c.target.field : '', check, seen ?? '', c.value === null ? 'del' : 'set', c.value ?? '', memberOf(c.target), owner, src?.field ?? '');
    }
    for (const s of splits) {
      keys.push(this.keyOf({ kind: 'dns', domain: s.parent, field: '@' }), this.keyOf({ kind: 'dns', domain: s.child, field: '@' }));
      args.push(s.label, caselessSuffixGlob(s.label), s.parent, s.child, s.parent === s.zone ? '' : relativeName(s.parent, s.zone));
    }
    keys.push(ZONE_CHANGES);
    args.push(ZONE_CHANGES_MAXLEN);
    return [keys, args];
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
