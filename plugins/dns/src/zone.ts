import { parentName } from '@plexus/core';
import { madeUpSoa, type NodeRecords, type Soa } from './records.js';

/** One zone hash, parsed and indexed for answering. Immutable once built. */
export interface Zone {
  /** Lowercase, no trailing dot. */
  readonly name: string;
  /** Records by field (`@`, `alice`, `*.dev`), lowercase. */
  readonly nodes: ReadonlyMap<string, NodeRecords>;
  /** Fields that exist only as ancestors of other fields (`_tcp.alice` of `_ssh._tcp.alice`). */
  readonly enclosers: ReadonlySet<string>;
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
}

/** Builds a zone from its parsed fields. */
export function buildZone(name: string, nodes: Map<string, NodeRecords>, pluginTtl: number): Zone {
  const enclosers = new Set<string>();
  for (const label of nodes.keys()) {
    let p = label === '@' ? undefined : parentName(label);
    // Stops at the apex ('') and where an existing ancestor already added the rest.
    while (p !== undefined && p !== '' && !enclosers.has(p)) {
      enclosers.add(p);
      p = parentName(p);
    }
  }
  return { name, nodes, enclosers, soa: nodes.get('@')?.soa ?? madeUpSoa(name, pluginTtl), size: nodes.size };
}

/** Builds a view from zone objects; configured zones without a hash get an empty zone. */
export function buildView(zones: Iterable<Zone>, served: readonly string[], pluginTtl: number): ZoneView {
  const map = new Map<string, Zone>();
  for (const z of zones) map.set(z.name, z);
  for (const s of served) if (!map.has(s)) map.set(s, buildZone(s, new Map(), pluginTtl));
  const zoneAncestors = new Set<string>();
  for (const name of map.keys()) {
    for (let p = parentName(name); p !== undefined && p !== ''; p = parentName(p)) zoneAncestors.add(p);
  }
  return { zones: map, zoneAncestors, served, ttl: pluginTtl };
}
