import { parentName } from '@plexus/core';
import type { WildcardRules } from './config.js';
import { madeUpSoa, parseRecords, type NodeRecords, type Soa } from './records.js';

/** What a zone looks its fields up in: the records of each field (a plain Map does). */
export interface NodeTable {
  get(field: string): NodeRecords | undefined;
  has(field: string): boolean;
  readonly size: number;
  keys(): IterableIterator<string>;
}

/** Parsed fields remembered per zone, so a wildcard or a glue target is not parsed per miss. */
const PARSED_MEMO = 512;

/**
 * A zone's fields held as the raw JSON values read from the store, parsed when an answer not in
 * the answer cache needs one. A parsed record set is half a dozen objects (about 300 bytes for
 * one A record) against one flat string of about 60: at 1M names that is the difference between
 * fitting in 800 MB or not. Parsing one field takes a few microseconds, next to the encoding of
 * the answer that follows it.
 */
export class RawNodes implements NodeTable {
  private readonly parsed = new Map<string, { raw: string; records: NodeRecords }>();

  constructor(
    /** Field → raw value; shared with the owner, who changes it in place. */
    readonly raw: Map<string, string>,
    private readonly pluginTtl: number,
    private readonly zone: string,
  ) {}

  get size(): number {
    return this.raw.size;
  }

  has(field: string): boolean {
    return this.raw.has(field);
  }

  keys(): IterableIterator<string> {
    return this.raw.keys();
  }

  get(field: string): NodeRecords | undefined {
    const raw = this.raw.get(field);
    if (raw === undefined) return undefined;
    // Keyed by the raw string itself: a changed value is parsed again without being told.
    const memo = this.parsed.get(field);
    if (memo !== undefined && memo.raw === raw) return memo.records;
    // Issues were reported when the value was read (ZoneState); here they are known already.
    const records = parseRecords(raw, this.pluginTtl, this.zone).records;
    if (this.parsed.size >= PARSED_MEMO) this.parsed.clear();
    this.parsed.set(field, { raw, records });
    return records;
  }
}

/** One zone hash, parsed and indexed for answering. */
export interface Zone {
  /** Lowercase, no trailing dot. */
  readonly name: string;
  /** Records by field (`@`, `alice`, `*.dev`): lowercased under `rfc4592`, as stored under `coredns`. */
  readonly nodes: NodeTable;
  /** `rfc4592`: fields that exist only as ancestors of other fields (`_tcp.alice` of `_ssh._tcp.alice`). */
  readonly enclosers: ReadonlySet<string>;
  /** `coredns`: every field reversed character by character, sorted, to test "some field ends with X" by binary search. */
  readonly reversedFields: SortedStrings;
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

/** Strings per block of a SortedStrings: an insert or delete moves at most twice this many pointers. */
const BLOCK = 2048;

/**
 * A sorted set of strings in blocks of at most 2 × BLOCK: insert, delete and "first not below" in
 * O(log n + BLOCK), and never a pass over the whole set. One sorted array would need a merge or a
 * filtering pass over all of it from time to time, and at 1M fields that pass held the event loop
 * for 0.4–0.9 s.
 */
export class SortedStrings {
  private readonly blocks: string[][] = [];
  private count = 0;

  /** From strings in any order. */
  static of(items: string[]): SortedStrings {
    const out = new SortedStrings();
    items.sort();
    for (let i = 0; i < items.length; i += BLOCK) out.blocks.push(items.slice(i, i + BLOCK));
    out.count = items.length;
    return out;
  }

  get size(): number {
    return this.count;
  }

  /** The block where `s` is or would go: the first whose last string is not below `s`, else the last. */
  private blockOf(s: string): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const b = this.blocks[mid]!;
      if (b[b.length - 1]! < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(s: string): void {
    if (this.blocks.length === 0) {
      this.blocks.push([s]);
      this.count = 1;
      return;
    }
    const bi = this.blockOf(s);
    const b = this.blocks[bi]!;
    const i = lowerBound(b, s);
    if (b[i] === s) return;
    b.splice(i, 0, s);
    this.count++;
    if (b.length > 2 * BLOCK) this.blocks.splice(bi, 1, b.slice(0, BLOCK), b.slice(BLOCK));
  }

  delete(s: string): boolean {
    if (this.blocks.length === 0) return false;
    const bi = this.blockOf(s);
    const b = this.blocks[bi]!;
    const i = lowerBound(b, s);
    if (b[i] !== s) return false;
    b.splice(i, 1);
    this.count--;
    if (b.length === 0) this.blocks.splice(bi, 1);
    return true;
  }

  /** True when some string starts with `prefix`. */
  hasPrefix(prefix: string): boolean {
    if (this.blocks.length === 0) return false;
    const b = this.blocks[this.blockOf(prefix)]!;
    const i = lowerBound(b, prefix);
    return i < b.length && b[i]!.startsWith(prefix);
  }
}

/**
 * A zone whose indexes follow its fields: `nodes` is shared with its owner, who calls
 * `addedMany`/`removedMany`/`updated` after changing it, so a change costs in proportion to the
 * change, never a rebuild. Changed only synchronously between queries.
 */
export class LiveZone implements Zone {
  readonly enclosers = new Set<string>();
  soa: Soa;
  /**
   * While true (a node loading its zones before it serves), additions and deletions drop the
   * suffix index instead of updating it, and the next read builds it once from all fields: a
   * million inserts one by one, each storing a fresh string into an old-space block, cost seconds
   * of a replica's start-up where one sort costs a fraction.
   */
  indexLazily = false;
  private reversed: SortedStrings | undefined;
  /** `rfc4592`: per encloser, how many fields lie below it (it stays while that is above 0). */
  private readonly below = new Map<string, number>();

  constructor(
    readonly name: string,
    readonly nodes: NodeTable,
    private readonly pluginTtl: number,
    private readonly rules: WildcardRules,
  ) {
    if (rules === 'rfc4592') for (const label of nodes.keys()) this.countAncestors(label, 1);
    this.reversed = this.buildReversed();
    this.soa = this.currentSoa();
  }

  /** `coredns`: every field reversed, sorted (see Zone); built again here after a lazy stretch. */
  get reversedFields(): SortedStrings {
    return (this.reversed ??= this.buildReversed());
  }

  private buildReversed(): SortedStrings {
    return SortedStrings.of(this.rules === 'coredns' ? [...this.nodes.keys()].map(reverseString) : []);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Fields are new. */
  addedMany(fields: readonly string[]): void {
    if (fields.length === 0) return;
    if (this.rules === 'rfc4592') for (const f of fields) this.countAncestors(f, 1);
    else if (this.indexLazily) this.reversed = undefined;
    else for (const f of fields) this.reversedFields.insert(reverseString(f));
    if (fields.includes('@')) this.soa = this.currentSoa();
  }

  /** Fields were deleted from `nodes`. */
  removedMany(fields: readonly string[]): void {
    if (fields.length === 0) return;
    if (this.rules === 'rfc4592') for (const f of fields) this.countAncestors(f, -1);
    else if (this.indexLazily) this.reversed = undefined;
    else for (const f of fields) this.reversedFields.delete(reverseString(f));
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
export function buildZone(name: string, nodes: NodeTable, pluginTtl: number, rules: WildcardRules = 'coredns'): LiveZone {
  return new LiveZone(name, nodes, pluginTtl, rules);
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
  return zone.reversedFields.hasPrefix(reverseString(suffix));
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
