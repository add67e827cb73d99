import { z } from 'zod';
import { canonicalIp } from './net.js';
import { isAtOrBelow, normalizeName } from './names.js';

/**
 * CoreDNS redis plugin data (COMPAT §1): one Redis hash per zone, keyed
 * `prefix + zone + '.' + suffix`; fields are names relative to the zone (`@` is the apex); each
 * value is a JSON object with one array per record type, `{"a":[{"ip":"10.2.0.5","ttl":300}]}`.
 * The gateway writes these values, the dns plugin reads them, an operator's CoreDNS reads the same.
 */

// ---- keys ------------------------------------------------------------------------------------

/** How zone hashes are named: the redis plugin's `prefix`/`suffix` around `zone.`. */
export interface ZoneKeyScheme {
  prefix: string;
  suffix: string;
  /** Configured zones, normalized; hashes of names below them are zones too. */
  zones: readonly string[];
}

/** Redis key of a zone's hash: prefix + zone + '.' + suffix (CoreDNS `Key()`). */
export function zoneKey(zone: string, prefix = '', suffix = ''): string {
  return `${prefix}${zone}.${suffix}`;
}

/** Escapes Redis glob specials so prefix/suffix/zone text matches itself only. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Zone part of a pattern, case-insensitive: `[gG][aA]...`, since DNS names are. */
function globCaseless(s: string): string {
  return [...s].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : globEscape(c))).join('');
}

/** Glob patterns (SCAN MATCH, PSUBSCRIBE) that match every key of the configured zones and of zones below them. */
export function zoneKeyPatterns(scheme: ZoneKeyScheme): string[] {
  return scheme.zones.map((z) => `${globEscape(scheme.prefix)}*${globCaseless(`${z}.`)}${globEscape(scheme.suffix)}`);
}

/**
 * The zone a store key holds, or undefined when the key is not a zone hash of the scheme (the glob
 * also matches `xgateway.tf.`, which is not below `gateway.tf`).
 */
export function zoneOfKey(key: string, scheme: ZoneKeyScheme): string | undefined {
  if (!key.startsWith(scheme.prefix) || !key.endsWith(scheme.suffix) || key.length < scheme.prefix.length + scheme.suffix.length + 1) return undefined;
  const raw = key.slice(scheme.prefix.length, key.length - scheme.suffix.length);
  if (!raw.endsWith('.')) return undefined;
  const name = normalizeName(raw);
  return scheme.zones.some((z) => isAtOrBelow(name, z)) ? name : undefined;
}

/** The redis plugin's default ttl, and ours: the largest TTL handed out, and that of records without one. */
export const DEFAULT_TTL = 300;

/** A record TTL in seconds (config `ttl` of the gateway and dns plugins). */
export const ttlSchema = z.number().int().min(1).max(2_147_483_647);

/** Key `prefix`/`suffix`: part of SCAN/PSUBSCRIBE patterns (escaped), so no control characters. */
export const zoneKeyPartSchema = z.string().max(128).refine((v) => !/[\r\n\0]/.test(v), { message: 'no control characters' });

// ---- field values ----------------------------------------------------------------------------


/** Record types the gateway writes (the redis plugin also reads ns, mx, srv, caa, soa). */
export type RecordType = 'a' | 'aaaa' | 'cname' | 'txt';
export const RECORD_TYPES: readonly RecordType[] = ['a', 'aaaa', 'cname', 'txt'];

/** The JSON field that carries a type's value (`ip`, `host` or `text`). */
export const VALUE_KEY: Record<RecordType, 'ip' | 'host' | 'text'> = { a: 'ip', aaaa: 'ip', cname: 'host', txt: 'text' };

/** A parsed field: type → entries; unknown types and malformed entries are carried verbatim. */
export type FieldRecords = Record<string, unknown>;

/** The stored field is not a JSON object, so it cannot be merged without losing data. */
export class FieldFormatError extends Error {
  constructor(readonly raw: string) {
    super(`field value is not a JSON object: ${raw.slice(0, 80)}`);
    this.name = 'FieldFormatError';
  }
}

/** Parses a stored field; a missing field (null) is an empty object. */
export function parseField(raw: string | null): FieldRecords {
  if (raw === null) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new FieldFormatError(raw);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new FieldFormatError(raw);
  return parsed as FieldRecords;
}

/** Compact JSON as in COMPAT §1; null when no type is left, meaning "delete the field". */
export function serializeField(field: FieldRecords): string | null {
  return Object.keys(field).length === 0 ? null : JSON.stringify(field);
}

/** The canonical form of a value, used for storing and for duplicate detection. */
export function canonicalValue(type: RecordType, value: string): string {
  if (type === 'a' || type === 'aaaa') return canonicalIp(value)?.ip ?? value;
  // CNAME targets are stored fully qualified: CoreDNS appends the zone to a host without the
  // trailing dot, which would turn `threebot.gateway.tf` into `threebot.gateway.tf.gateway.tf.`.
  if (type === 'cname') return value.toLowerCase().endsWith('.') ? value.toLowerCase() : `${value.toLowerCase()}.`;
  return value;
}

/** One entry as written: value key first, then `ttl` (`{"ip":"10.2.0.5","ttl":300}`). */
export function buildEntry(type: RecordType, value: string, ttl: number): Record<string, string | number> {
  return { [VALUE_KEY[type]]: canonicalValue(type, value), ttl };
}

/** Duplicate key of a stored entry, or undefined for entries we cannot read (kept as they are). */
function identityOf(type: RecordType, entry: unknown): string | undefined {
  if (entry === null || typeof entry !== 'object') return undefined;
  const v = (entry as Record<string, unknown>)[VALUE_KEY[type]];
  return typeof v === 'string' ? canonicalValue(type, v) : undefined;
}

function entriesOf(field: FieldRecords, type: RecordType): unknown[] {
  const v = field[type];
  return Array.isArray(v) ? v : [];
}

/**
 * Adds `values` of `type` to a stored field without duplicates. As in the original actor, the new
 * records come first, followed by the existing ones that are not among them; a value registered
 * again gets the new ttl. Other types keep their position and content.
 */
export function mergeRecords(raw: string | null, type: RecordType, values: readonly string[], ttl: number): string {
  const field = parseField(raw);
  const seen = new Set<string>();
  const merged: unknown[] = [];
  for (const v of values) {
    const entry = buildEntry(type, v, ttl);
    const id = entry[VALUE_KEY[type]] as string;
    if (seen.has(id)) continue;
    seen.add(id);
    merged.push(entry);
  }
  for (const entry of entriesOf(field, type)) {
    const id = identityOf(type, entry);
    if (id !== undefined && seen.has(id)) continue;
    if (id !== undefined) seen.add(id);
    merged.push(entry);
  }
  field[type] = merged;
  return JSON.stringify(field);
}

/**
 * Removes records from a stored field: one value of `type`, every record of `type` (value
 * undefined), or the whole field (type undefined). A type left empty is dropped, and a field left
 * empty yields `value: null` (delete the field), as the original `domain_unregister` did.
 */
export function removeRecords(raw: string | null, type?: RecordType, value?: string): { value: string | null; removed: number } {
  if (raw === null) return { value: null, removed: 0 };
  if (type === undefined) {
    // Deleting the whole field must work even when its content is unreadable.
    let removed = 1;
    try {
      removed = countRecords(parseField(raw));
    } catch {
      /* counted as one */
    }
    return { value: null, removed };
  }
  const field = parseField(raw);
  const entries = entriesOf(field, type);
  const wanted = value === undefined ? undefined : canonicalValue(type, value);
  const kept = wanted === undefined ? [] : entries.filter((e) => identityOf(type, e) !== wanted);
  const removed = entries.length - kept.length;
  if (removed === 0) return { value: raw, removed: 0 };
  if (kept.length === 0) delete field[type];
  else field[type] = kept;
  return { value: serializeField(field), removed };
}

/** Number of records in a field: array entries of every type, plus one for a single-object type (soa). */
export function countRecords(field: FieldRecords): number {
  let n = 0;
  for (const v of Object.values(field)) n += Array.isArray(v) ? v.length : v !== null && typeof v === 'object' ? 1 : 0;
  return n;
}
