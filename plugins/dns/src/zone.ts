import { parentName } from '@plexus/core';
import type { WildcardRules } from './config.js';
import { madeUpSoa, type NodeRecords, type Soa } from './records.js';

/** One zone hash, parsed and indexed for answering. */
export interface Zone {
  /** Lowercase, no trailing dot. */
  readonly name: string;
  /** Records by field (`@`, `alice`, `*.dev`): lowercased under `rfc4592`, as stored under `coredns`. */
  readonly nodes: ReadonlyMap<string, NodeRecords>;
  /** `rfc4592`: fields that exist only as ancestors of other fields (`_tcp.alice` of `_ssh._tcp.alice`). */
  readonly enclosers: ReadonlySet<string>;
  /** `coredns`: every field reversed character by character, sorted, to test "some field ends with X" by binary search. */
  readonly reversedFields: readonly string[];
  /** `coredns`: more of them, added lately, sorted (merged into `reversedFields` when it grows). */
  readonly reversedRecent?: readonly string[];
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

/**
 * A zone whose indexes follow its fields: `nodes` is shared with its owner, who calls
 * `addedMany`/`removedMany`/`updated` after changing it, so a change costs in proportion to the
 * change (amortized), never a rebuild. Changed only synchronously between queries.
 */
export class LiveZone implements Zone {
  readonly enclosers = new Set<string>();
  readonly reversedFields: string[];
  readonly reversedRecent: string[] = [];
  soa: Soa;
  /** `rfc4592`: per encloser, how many fields lie below it (it stays while that is above 0). */
  private readonly below = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly nodes: Map<string, NodeRecords>,
    private readonly pluginTtl: number,
    private readonly rules: WildcardRules,
  ) {
    if (rules === 'rfc4592') for (const label of nodes.keys()) this.countAncestors(label, 1);
    this.reversedFields = rules === 'coredns' ? [...nodes.keys()].map(reverseString).sort() : [];
    this.soa = this.currentSoa();
  }

  get size(): number {
    return this.nodes.size;
  }

  /**
   * Fields are new: their reversed names go into the small sorted `reversedRecent` (a splice
   * there moves few pointers), which is merged into `reversedFields` in one pass once it holds a
   * sixteenth of it, so a bulk load costs O(1) amortized per field, not O(zone).
   */
  addedMany(fields: readonly string[]): void {
    if (fields.length === 0) return;
    if (this.rules === 'rfc4592') for (const f of fields) this.countAncestors(f, 1);
    else {
      const recent = this.reversedRecent;
      if (fields.length < 8) {
        for (const f of fields) {
          const r = reverseString(f);
          recent.splice(lowerBound(recent, r), 0, r);
        }
      } else mergeInto(recent, fields.map(reverseString).sort());
      if (recent.length > Math.max(1024, this.reversedFields.length / 16)) mergeInto(this.reversedFields, recent.splice(0));
    }
    if (fields.includes('@')) this.soa = this.currentSoa();
  }

  /** Fields were deleted from `nodes`: one splice each, or one filtering pass for many. */
  removedMany(fields: readonly string[]): void {
    if (fields.length === 0) return;
    if (this.rules === 'rfc4592') for (const f of fields) this.countAncestors(f, -1);
    else if (fields.length < 8) {
      for (const f of fields) {
        const r = reverseString(f);
        for (const list of [this.reversedRecent, this.reversedFields]) {
          const i = lowerBound(list, r);
          if (list[i] === r) {
            list.splice(i, 1);
            break;
          }
        }
      }
    } else {
      const gone = new Set(fields.map(reverseString));
      for (const list of [this.reversedRecent, this.reversedFields]) {
        let n = 0;
        for (const r of list) if (!gone.has(r)) list[n++] = r;
        list.length = n;
      }
    }
    if (fields.includes('@')) this.soa = this.currentSoa();
  }

  /** The value of an existing `field` changed. */
  updated(field: string): void {
    if (field === '@') this.soa = this.currentSoa();
  }

  private currentSoa(): Soa {
    return this.nodes.get('@')?.soa ?? madeUpSoa(this.name, this.pluginTtl);
  }

  private countAncestors(label: string, delta: 1 | -1): void {
    // Ancestors up to the apex (''): `_tcp.alice` and `alice` of `_ssh._tcp.alice`.
    for (let p = label === '@' ? undefined : parentName(label); p !== undefined && p !== ''; p = parentName(p)) {
      const n = (this.below.get(p) ?? 0) + delta;
      if (n > 0) {
        this.below.set(p, n);
        this.enclosers.add(p);
      } else {
        this.below.delete(p);
        this.enclosers.delete(p);
      }
    }
  }
}

/** Builds a zone from its parsed fields, indexed for the lookup `rules`. */
export function buildZone(name: string, nodes: Map<string, NodeRecords>, pluginTtl: number, rules: WildcardRules = 'coredns'): LiveZone {
  return new LiveZone(name, nodes, pluginTtl, rules);
}

/** Merges sorted `add` into sorted `list`, in place, in one pass. */
function mergeInto(list: string[], add: readonly string[]): void {
  const old = list.splice(0);
  let i = 0;
  let j = 0;
  while (i < old.length || j < add.length) list.push(j >= add.length || (i < old.length && old[i]! < add[j]!) ? old[i++]! : add[j++]!);
}

/** First index of sorted `list` whose item is not below `want`. */
function lowerBound(list: readonly string[], want: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]! < want) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when some field of `zone` ends with `suffix` (any field when it is ''), as plain text. */
export function someFieldEndsWith(zone: Zone, suffix: string): boolean {
  if (suffix === '') return zone.nodes.size > 0;
  const want = reverseString(suffix);
  for (const list of [zone.reversedFields, zone.reversedRecent ?? []]) {
    const lo = lowerBound(list, want);
    if (lo < list.length && list[lo]!.startsWith(want)) return true;
  }
  return false;
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
