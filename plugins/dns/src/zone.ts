import { parentName } from '@plexus/core';
import type { WildcardRules } from './config.js';
import { madeUpSoa, type NodeRecords, type Soa } from './records.js';

/** One zone hash, parsed and indexed for answering. Immutable once built. */
export interface Zone {
  /** Lowercase, no trailing dot. */
  readonly name: string;
  /** Records by field (`@`, `alice`, `*.dev`): lowercased under `rfc4592`, as stored under `coredns`. */
  readonly nodes: ReadonlyMap<string, NodeRecords>;
  /** `rfc4592`: fields that exist only as ancestors of other fields (`_tcp.alice` of `_ssh._tcp.alice`). */
  readonly enclosers: ReadonlySet<string>;
  /** `coredns`: every field reversed character by character, sorted, to test "some field ends with X" by binary search. */
  readonly reversedFields: readonly string[];
  /** The `@` SOA, or the made-up one. */
  readonly soa: Soa;
  /** Fields in the hash, for status. */
  readonly size: number;
}

/** Everything a lookup needs: the zones we serve, as one consistent snapshot. */
export interface ZoneView {
  /** Zone hashes by name, plus an empty zone for each configured zone that has no hash. */
  readonly zones: ReadonlyMap<string, Zone>;
  /** Proper ancestors of zone names (names that exist because a zone below them does). */
  readonly zoneAncestors: ReadonlySet<string>;
  /** The configured zones: names at or below them are ours, the rest is forwarded or refused. */
  readonly served: readonly string[];
  /** The plugin TTL (default 300). */
  readonly ttl: number;
  /** How names without a field of their own are answered (config `wildcards`). */
  readonly rules: WildcardRules;
}

/** `abc` → `cba`: a suffix of a string is a prefix of its reverse. */
export function reverseString(s: string): string {
  return [...s].reverse().join('');
}

/** Builds a zone from its parsed fields, indexed for the lookup `rules`. */
export function buildZone(name: string, nodes: Map<string, NodeRecords>, pluginTtl: number, rules: WildcardRules = 'coredns'): Zone {
  const enclosers = new Set<string>();
  if (rules === 'rfc4592') {
    for (const label of nodes.keys()) {
      let p = label === '@' ? undefined : parentName(label);
      // Stops at the apex ('') and where an existing ancestor already added the rest.
      while (p !== undefined && p !== '' && !enclosers.has(p)) {
        enclosers.add(p);
        p = parentName(p);
      }
    }
  }
  const reversedFields = rules === 'coredns' ? [...nodes.keys()].map(reverseString).sort() : [];
  return { name, nodes, enclosers, reversedFields, soa: nodes.get('@')?.soa ?? madeUpSoa(name, pluginTtl), size: nodes.size };
}

/** True when some field of `zone` ends with `suffix` (any field when it is ''), as plain text. */
export function someFieldEndsWith(zone: Zone, suffix: string): boolean {
  if (suffix === '') return zone.nodes.size > 0;
  const want = reverseString(suffix);
  const list = zone.reversedFields;
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < want) lo = mid + 1;
    else hi = mid;
  }
  return lo < list.length && list[lo]!.startsWith(want);
}

/** Builds a view from zone objects; configured zones without a hash get an empty zone. */
export function buildView(zones: Iterable<Zone>, served: readonly string[], pluginTtl: number, rules: WildcardRules = 'coredns'): ZoneView {
  const map = new Map<string, Zone>();
  for (const z of zones) map.set(z.name, z);
  for (const s of served) if (!map.has(s)) map.set(s, buildZone(s, new Map(), pluginTtl, rules));
  const zoneAncestors = new Set<string>();
  for (const name of map.keys()) {
    for (let p = parentName(name); p !== undefined && p !== ''; p = parentName(p)) zoneAncestors.add(p);
  }
  return { zones: map, zoneAncestors, served, ttl: pluginTtl, rules };
}
