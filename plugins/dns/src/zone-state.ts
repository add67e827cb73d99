import { parseRecords, type NodeRecords } from './records.js';
import { foldCase, normalizeName, zoneOfKey, type ZoneKeyScheme } from '@plexus/core';
import type { WildcardRules } from './config.js';
import { buildView, buildZone, type Zone, type ZoneView } from './zone.js';

/**
 * The zone hashes as last read from the store, and the view built from them. Pure in-memory:
 * the store side (ZoneCache) hands it what it read; only fields whose raw value changed are
 * parsed again, and only the zones they belong to are rebuilt.
 */

/** Per store key: its raw field values (to re-parse only what changed) and the parsed records. */
interface KeyState {
  zone: string;
  raw: Map<string, string>;
  nodes: Map<string, NodeRecords>;
}

/** Distinct skipped-record warnings remembered, so each is logged once (bounded memory). */
const MAX_WARNED = 10_000;

export class ZoneState {
  /** The current snapshot. Replaced as a whole on every change, never mutated. */
  view: ZoneView;
  /** When the view last changed (ms since the epoch), 0 before the first change. */
  lastChange = 0;
  private readonly keysByName = new Map<string, KeyState>();
  private readonly zones = new Map<string, Zone>();
  private readonly warned = new Set<string>();

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

  /** Store keys currently held. */
  keys(): IterableIterator<string> {
    return this.keysByName.keys();
  }

  /** Sizes for status. */
  counts(): { keys: number; zones: number; records: number; lastChange: number } {
    let records = 0;
    for (const k of this.keysByName.values()) records += k.nodes.size;
    return { keys: this.keysByName.size, zones: this.view.zones.size, records, lastChange: this.lastChange };
  }

  /**
   * Merges hashes as read from the store (undefined: the key is gone) and rebuilds the view
   * when anything changed. @returns whether the view changed.
   */
  apply(read: Map<string, Record<string, string> | undefined>): boolean {
    const touched = new Set<string>();
    for (const [key, hash] of read) {
      const zone = zoneOfKey(key, this.scheme)!;
      if (this.rules === 'coredns' && !this.exactKey(key)) continue;
      const old = this.keysByName.get(key);
      if (hash === undefined) {
        if (old !== undefined) {
          this.keysByName.delete(key);
          touched.add(zone);
        }
        continue;
      }
      const state: KeyState = old ?? { zone, raw: new Map(), nodes: new Map() };
      if (this.updateKey(key, state, hash)) touched.add(zone);
      this.keysByName.set(key, state);
    }
    if (touched.size > 0) this.rebuild(touched);
    return touched.size > 0;
  }

  /** Re-parses only fields whose raw value changed. @returns whether anything changed. */
  private updateKey(key: string, state: KeyState, hash: Record<string, string>): boolean {
    let changed = false;
    const fields = new Set<string>();
    for (const [rawField, value] of Object.entries(hash)) {
      const field = rawField === '@' || this.rules === 'coredns' ? rawField : normalizeName(rawField);
      if (field === '') continue;
      fields.add(field);
      if (state.raw.get(field) === value) continue;
      changed = true;
      state.raw.set(field, value);
      const parsed = parseRecords(value, this.ttl, state.zone);
      for (const issue of parsed.issues) this.warnOnce(key, rawField, issue);
      state.nodes.set(field, parsed.records);
    }
    for (const field of [...state.raw.keys()]) {
      if (fields.has(field)) continue;
      state.raw.delete(field);
      state.nodes.delete(field);
      changed = true;
    }
    return changed;
  }

  private rebuild(touched: Set<string>): void {
    // One pass over the keys: a full load touches every zone, and there may be thousands.
    const byZone = new Map<string, KeyState[]>();
    for (const s of this.keysByName.values()) {
      if (!touched.has(s.zone)) continue;
      const list = byZone.get(s.zone);
      if (list === undefined) byZone.set(s.zone, [s]);
      else list.push(s);
    }
    for (const name of touched) {
      // Two keys may name one zone (`Gateway.TF.` and `gateway.tf.`): their fields are merged.
      const nodes = new Map<string, NodeRecords>();
      for (const s of byZone.get(name) ?? []) for (const [f, n] of s.nodes) nodes.set(f, n);
      if (nodes.size === 0) this.zones.delete(name);
      else this.zones.set(name, buildZone(name, nodes, this.ttl, this.rules));
    }
    this.view = buildView(this.zones.values(), this.scheme.zones, this.ttl, this.rules);
    this.lastChange = Date.now();
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
