import { canonicalIp } from './validation.js';

/**
 * The value of one field of a zone hash, as the CoreDNS redis plugin reads it (COMPAT §1):
 * a JSON object with one array per record type, `{"a":[{"ip":"10.2.0.5","ttl":300}],"txt":[...]}`.
 * Pure functions: build, merge and remove records, keeping every other type of the field as it
 * was (another tool, or the operator, may have put `mx` or `soa` there).
 */

/** Record types the gateway writes. */
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
