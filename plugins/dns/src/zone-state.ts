import { parseRecords } from './records.js';
import { foldCase, normalizeName, zoneOfKey, type ZoneKeyScheme } from '@plexus/core';
import type { WildcardRules } from './config.js';
import { buildView, LiveZone, RawNodes, type ZoneView } from './zone.js';

/**
 * The zone hashes as last read from the store, and the view built from them. Pure in-memory: the
 * store side (ZoneCache) hands it what it read, whole hashes or single fields; only fields whose
 * raw value changed are looked at again, and a zone held in one hash (the usual case) has its
 * indexes updated field by field, so a change costs work in proportion to the change, not to the
 * zone. Fields are held as their raw values only (RawNodes parses them when a query needs one).
 */

/** Per store key: its raw field values, which are also what its zone answers from. */
interface KeyState {
  zone: string;
  nodes: RawNodes;
}

/** What a change did to the answers, so the answer cache drops only those it may have changed. */
export interface ViewChange {
  /** Names (lowercase, no trailing dot) whose own field changed. */
  names: string[];
  /** The set of zones changed: any answer may differ. */
  all: boolean;
}

/** Distinct skipped-record warnings remembered, so each is logged once (bounded memory). */
const MAX_WARNED = 10_000;

export class ZoneState {
  /** The current snapshot: its zones change in place, synchronously; replaced when the set of zones changes. */
  view: ZoneView;
  /** When the view last changed (ms since the epoch), 0 before the first change. */
  lastChange = 0;
  private readonly keysByName = new Map<string, KeyState>();
  /** Keys holding each zone: two under `rfc4592` when `Gateway.TF.` and `gateway.tf.` both exist. */
  private readonly keysOfZone = new Map<string, Set<string>>();
  private readonly zones = new Map<string, LiveZone>();
  private readonly warned = new Set<string>();
  /** See `setLoading()`. */
  private lazy = false;
  /** Fields read while loading whose values were not yet parsed for warnings: key, raw field, key, raw field, … */
  private unchecked: string[] = [];

  /**
   * `warn` receives each distinct problem with a stored value once. Under `coredns` rules keys and
   * fields are taken as stored, as CoreDNS looks them up (the lowercased query name, exactly): a
   * key `Gateway.TF.` is no zone and a field `WWW` answers no query. Under `rfc4592` both are
   * matched without regard to case (RFC 4343).
   */
  constructor(
    private readonly scheme: ZoneKeyScheme,
    private readonly ttl: number,
    private readonly warn: (key: string, field: string, issue: string) => void,
    private readonly rules: WildcardRules = 'coredns',
  ) {
    this.view = buildView([], scheme.zones, ttl, rules);
  }

  /**
   * While the node loads its zones and serves nothing yet, the zones' suffix indexes are built
   * once when loading ends instead of being updated field by field (LiveZone.indexLazily).
   */
  setLoading(on: boolean): void {
    this.lazy = on;
    for (const z of this.zones.values()) {
      z.indexLazily = on;
      // Built now, not by the first query.
      if (!on) void z.reversedFields;
    }
  }

  /**
   * Parses up to `max` of the fields read while loading for their warnings (`warn`), as they hold
   * now: loading leaves that to the time after the first answer (it was 13-19 % of a 100k-record
   * load). @returns how many are left.
   */
  checkDeferred(max: number): number {
    const list = this.unchecked;
    const end = Math.max(0, list.length - 2 * max);
    for (let i = list.length - 2; i >= end; i -= 2) {
      const key = list[i]!;
      const rawField = list[i + 1]!;
      const state = this.keysByName.get(key);
      const value = state?.nodes.raw.get(this.fieldName(rawField));
      if (state !== undefined && value !== undefined) this.check(key, state.zone, rawField, value);
    }
    list.length = end;
    return end / 2;
  }

  private check(key: string, zone: string, rawField: string, value: string): void {
    for (const issue of parseRecords(value, this.ttl, zone).issues) this.warnOnce(key, rawField, issue);
  }

  /** True between setLoading(true) and setLoading(false): nothing is served yet. */
  get loading(): boolean {
    return this.lazy;
  }

  /** Store keys currently held. */
  keys(): IterableIterator<string> {
    return this.keysByName.keys();
  }

  /** Fields currently held for `key` (as normalized for the rules). */
  fields(key: string): IterableIterator<string> {
    return (this.keysByName.get(key)?.nodes.raw ?? new Map<string, string>()).keys();
  }

  /** How many fields of `key` are held. */
  size(key: string): number {
    return this.keysByName.get(key)?.nodes.size ?? 0;
  }

  /** Sizes for status. */
  counts(): { keys: number; zones: number; records: number; lastChange: number } {
    let records = 0;
    for (const k of this.keysByName.values()) records += k.nodes.size;
    return { keys: this.keysByName.size, zones: this.view.zones.size, records, lastChange: this.lastChange };
  }

  /**
   * Merges whole hashes as read from the store (undefined: the key is gone). @returns whether the
   * view changed.
   */
  apply(read: Map<string, Record<string, string> | undefined>): boolean {
    let changed = false;
    for (const [key, hash] of read) {
      const fields = new Map<string, string | undefined>(Object.entries(hash ?? {}));
      const seen = new Set<string>();
      for (const f of fields.keys()) seen.add(this.fieldName(f));
      for (const f of this.fields(key)) if (!seen.has(f)) fields.set(f, undefined);
      if (this.applyFields(key, fields) !== undefined) changed = true;
    }
    return changed;
  }

  /**
   * Sets (or, for undefined, deletes) single fields of `key`; fields not named are kept.
   * @returns what changed, or undefined when nothing did.
   */
  applyFields(key: string, fields: Map<string, string | undefined>): ViewChange | undefined {
    const zone = zoneOfKey(key, this.scheme);
    if (zone === undefined || (this.rules === 'coredns' && !this.exactKey(key))) return undefined;
    const wasHeld = this.keysByName.has(key);
    const state = this.keysByName.get(key) ?? { zone, nodes: new RawNodes(new Map(), this.ttl, zone) };
    const raw = state.nodes.raw;
    const done: { field: string; kind: 'added' | 'removed' | 'updated' }[] = [];
    for (const [rawField, value] of fields) {
      const field = this.fieldName(rawField);
      if (field === '') continue;
      const had = raw.get(field);
      if (value === undefined) {
        if (had === undefined) continue;
        raw.delete(field);
        done.push({ field, kind: 'removed' });
        continue;
      }
      if (had === value) continue;
      raw.set(field, value);
      // Parsed here only to report its problems once; answers parse it again when they need it.
      if (this.lazy) this.unchecked.push(key, rawField);
      else this.check(key, zone, rawField, value);
      done.push({ field, kind: had === undefined ? 'added' : 'updated' });
    }
    if (done.length === 0) return undefined;

    let owners = this.keysOfZone.get(zone);
    const held = raw.size > 0;
    if (held && !wasHeld) {
      this.keysByName.set(key, state);
      if (owners === undefined) this.keysOfZone.set(zone, (owners = new Set()));
      owners.add(key);
    } else if (!held) {
      this.keysByName.delete(key);
      owners?.delete(key);
      if (owners?.size === 0) this.keysOfZone.delete(zone);
    }
    const live = this.zones.get(zone);
    let all = false;
    if (held === wasHeld && live !== undefined && live.nodes === state.nodes) {
      const of = (kind: string): string[] => done.filter((d) => d.kind === kind).map((d) => d.field);
      live.addedMany(of('added'));
      live.removedMany(of('removed'));
      for (const f of of('updated')) live.updated(f);
    } else all = this.rebuildZone(zone);
    this.lastChange = Date.now();
    const names = done.map((d) => foldCase(d.field === '@' ? zone : `${d.field}.${zone}`));
    return { names, all };
  }

  /** Builds `zone` again from the keys holding it. @returns whether the set of zones changed. */
  private rebuildZone(zone: string): boolean {
    const owners = [...(this.keysOfZone.get(zone) ?? [])].map((k) => this.keysByName.get(k)!);
    const existed = this.zones.has(zone);
    if (owners.length === 0) this.zones.delete(zone);
    else if (owners.length === 1) this.zones.set(zone, this.liveZone(zone, owners[0]!.nodes));
    else {
      // Two keys name one zone (`Gateway.TF.` and `gateway.tf.`): their fields are merged into a copy.
      const raw = new Map<string, string>();
      for (const s of owners) for (const [f, v] of s.nodes.raw) raw.set(f, v);
      this.zones.set(zone, this.liveZone(zone, new RawNodes(raw, this.ttl, zone)));
    }
    // The view holds the zone objects: a new one (or one fewer) needs a new view.
    this.view = buildView(this.zones.values(), this.scheme.zones, this.ttl, this.rules);
    return existed !== this.zones.has(zone);
  }

  private liveZone(zone: string, nodes: RawNodes): LiveZone {
    const z = new LiveZone(zone, nodes, this.ttl, this.rules);
    z.indexLazily = this.lazy;
    return z;
  }

  /** A field as held: as stored under `coredns`, lowercased under `rfc4592`. */
  fieldName(rawField: string): string {
    return rawField === '@' || this.rules === 'coredns' ? rawField : normalizeName(rawField);
  }

  /** The key CoreDNS would ask for: its zone part already lowercase (CoreDNS lowercases the query). */
  private exactKey(key: string): boolean {
    const zonePart = key.slice(this.scheme.prefix.length, key.length - this.scheme.suffix.length);
    return zonePart === foldCase(zonePart);
  }

  private warnOnce(key: string, field: string, issue: string): void {
    const id = `${key}\u0000${field}\u0000${issue}`;
    if (this.warned.has(id)) return;
    if (this.warned.size >= MAX_WARNED) this.warned.clear();
    this.warned.add(id);
    this.warn(key, field, issue);
  }
}
