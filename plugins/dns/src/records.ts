import { isIPv4, isIPv6 } from 'node:net';
import type { CaaData, MxData, SoaData, SrvData } from 'dns-packet';
import { isWireName, normalizeName } from '@plexus/core';

/**
 * Parses the JSON values of a zone hash (COMPAT.md §1) into record sets ready to be put on the
 * wire. Lenient on purpose: the data is written by other programs and by hand, and one bad field
 * must cost that field only, never the name, the zone or the server. Every skip is reported as an
 * issue string so the caller can log it once.
 */

/** Record types a field can hold, by their JSON key. */
export const RECORD_KEYS = ['a', 'aaaa', 'cname', 'ns', 'txt', 'mx', 'srv', 'caa'] as const;
export type RecordKey = (typeof RECORD_KEYS)[number];

/** One record ready for dns-packet: only the owner name is added when answering. */
export type Rr =
  | { type: 'A' | 'AAAA' | 'CNAME' | 'NS'; ttl: number; data: string }
  | { type: 'TXT'; ttl: number; data: Buffer[] }
  | { type: 'MX'; ttl: number; data: MxData }
  | { type: 'SRV'; ttl: number; data: SrvData }
  | { type: 'CAA'; ttl: number; data: CaaData };

/** A zone's SOA with the TTL it is served with; the serial is filled in when answering. */
export interface Soa {
  ttl: number;
  data: Required<Omit<SoaData, 'serial'>>;
}

/** Everything one field (one name) holds. Absent types are absent keys. */
export interface NodeRecords {
  sets: Partial<Record<RecordKey, Rr[]>>;
  /** Only meaningful on `@`. */
  soa?: Soa;
}

export interface ParseResult {
  records: NodeRecords;
  /** Human-readable reasons for every part that was skipped. */
  issues: string[];
}

/** TTL rule of COMPAT.md §1: the smaller of record and plugin TTL; 0 or missing means the plugin's. */
export function effectiveTtl(recordTtl: number | undefined, pluginTtl: number): number {
  return recordTtl === undefined || recordTtl <= 0 ? pluginTtl : Math.min(recordTtl, pluginTtl);
}

/** The SOA a zone gets when its `@` has none (COMPAT.md §1). */
export function madeUpSoa(zone: string, pluginTtl: number): Soa {
  const suffix = zone === '' ? '' : `.${zone}`;
  return {
    ttl: pluginTtl,
    data: { mname: `ns1${suffix}`, rname: `hostmaster${suffix}`, refresh: 86400, retry: 7200, expire: 3600, minimum: pluginTtl },
  };
}

type Obj = Record<string, unknown>;

/** Go's encoding/json (what CoreDNS uses) matches keys case-insensitively: `"A"` and `"MBox"` work there, so here too. */
function lowerKeys(o: Obj): Obj {
  // Keys are nearly always lowercase already: then the object is used as it is (no copy per record).
  let lower = true;
  for (const k in o) if (k !== k.toLowerCase()) lower = false;
  if (lower) return o;
  const out: Obj = {};
  for (const [k, v] of Object.entries(o)) out[k.toLowerCase()] = v;
  return out;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An unsigned integer up to `max`, also from a numeric string; undefined when absent or invalid. */
function uint(v: unknown, max: number): number | undefined {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= max ? n : undefined;
}

class Parser {
  readonly issues: string[] = [];
  constructor(private readonly pluginTtl: number) {}

  issue(msg: string): void {
    this.issues.push(msg);
  }

  ttl(e: Obj, where: string): number {
    if (e.ttl === undefined || e.ttl === null) return this.pluginTtl;
    const n = uint(e.ttl, 0xffffffff);
    if (n === undefined) this.issue(`${where}: ttl ${JSON.stringify(e.ttl)} is not a whole number of seconds; using ${this.pluginTtl}`);
    return effectiveTtl(n, this.pluginTtl);
  }

  num(e: Obj, key: string, max: number, where: string): number | undefined {
    if (e[key] === undefined || e[key] === null) return 0;
    const n = uint(e[key], max);
    if (n === undefined) this.issue(`${where}: ${key} ${JSON.stringify(e[key])} is not a number from 0 to ${max}`);
    return n;
  }

  host(v: unknown, where: string): string | undefined {
    if (typeof v !== 'string' || v.trim() === '') {
      this.issue(`${where}: expected a host name, got ${JSON.stringify(v)}`);
      return undefined;
    }
    const name = normalizeName(v.trim());
    if (name === '' || !isWireName(name)) {
      this.issue(`${where}: '${v}' is not a valid domain name`);
      return undefined;
    }
    return name;
  }

  entry(key: RecordKey, e: Obj, where: string): Rr | undefined {
    switch (key) {
      case 'a':
      case 'aaaa': {
        const ip = typeof e.ip === 'string' ? e.ip.trim() : undefined;
        const ok = ip !== undefined && (key === 'a' ? isIPv4(ip) : isIPv6(ip));
        if (!ok) return void this.issue(`${where}: ${JSON.stringify(e.ip)} is not an IPv${key === 'a' ? 4 : 6} address`);
        return { type: key === 'a' ? 'A' : 'AAAA', ttl: this.ttl(e, where), data: ip };
      }
      case 'cname':
      case 'ns': {
        const host = this.host(e.host, where);
        return host === undefined ? undefined : { type: key === 'cname' ? 'CNAME' : 'NS', ttl: this.ttl(e, where), data: host };
      }
      case 'txt': {
        if (typeof e.text !== 'string' || e.text === '') return void this.issue(`${where}: text must be a non-empty string`);
        return { type: 'TXT', ttl: this.ttl(e, where), data: chunk255(e.text) };
      }
      case 'mx': {
        const exchange = this.host(e.host, where);
        const preference = this.num(e, 'preference', 0xffff, where);
        if (exchange === undefined || preference === undefined) return undefined;
        return { type: 'MX', ttl: this.ttl(e, where), data: { exchange, preference } };
      }
      case 'srv': {
        const target = this.host(e.target, where);
        const priority = this.num(e, 'priority', 0xffff, where);
        const weight = this.num(e, 'weight', 0xffff, where);
        const port = this.num(e, 'port', 0xffff, where);
        if (target === undefined || priority === undefined || weight === undefined || port === undefined) return undefined;
        return { type: 'SRV', ttl: this.ttl(e, where), data: { target, priority, weight, port } };
      }
      case 'caa': {
        const flags = this.num(e, 'flag', 0xff, where);
        const tag = typeof e.tag === 'string' ? e.tag : '';
        const value = typeof e.value === 'string' ? e.value : '';
        // RFC 8659: the tag is 1..15 ASCII letters and digits; the original plugin also skips empty values.
        if (!/^[A-Za-z0-9]{1,15}$/.test(tag) || value === '') return void this.issue(`${where}: needs a tag (letters/digits) and a value`);
        if (flags === undefined) return undefined;
        return { type: 'CAA', ttl: this.ttl(e, where), data: { flags, tag: tag as CaaData['tag'], value } };
      }
    }
  }

  soa(v: unknown, zone: string): Soa | undefined {
    if (!isObj(v)) return void this.issue(`soa: expected an object, got ${JSON.stringify(v)}`);
    const s = lowerKeys(v);
    // The original plugin made the whole SOA up when `ns` was empty; so do we.
    if (s.ns === undefined || s.ns === '') return undefined;
    const mname = this.host(s.ns, 'soa.ns');
    if (mname === undefined) return undefined;
    const rname = s.mbox === undefined || s.mbox === '' ? undefined : this.host(s.mbox, 'soa.MBox');
    const made = madeUpSoa(zone, this.pluginTtl).data;
    const field = (k: string, dflt: number): number => {
      const n = s[k] === undefined ? undefined : uint(s[k], 0xffffffff);
      if (s[k] !== undefined && n === undefined) this.issue(`soa.${k}: ${JSON.stringify(s[k])} is not a number`);
      return n === undefined || n === 0 ? dflt : n;
    };
    return {
      ttl: this.ttl(s, 'soa'),
      data: {
        mname,
        rname: rname ?? made.rname,
        refresh: field('refresh', made.refresh),
        retry: field('retry', made.retry),
        expire: field('expire', made.expire),
        minimum: field('minttl', made.minimum),
      },
    };
  }
}

/** Splits text into ≤255-byte character-strings, on byte boundaries like the original (RFC 1035 §3.3.14). */
export function chunk255(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) out.push(bytes.subarray(i, Math.min(i + 255, bytes.length)));
  return out;
}

/** A stable identity for duplicate removal: an RRset must not hold the same record twice. */
function rrKey(rr: Rr): string {
  return rr.type === 'TXT' ? Buffer.concat(rr.data).toString('base64') : JSON.stringify(rr.data);
}

/**
 * Parses one field's JSON value. `zone` is the zone the field belongs to (used for the SOA's
 * defaults). Never throws.
 */
export function parseRecords(value: string, pluginTtl: number, zone: string): ParseResult {
  const p = new Parser(pluginTtl);
  const records: NodeRecords = { sets: {} };
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    return { records, issues: ['value is not JSON'] };
  }
  if (!isObj(raw)) return { records, issues: ['value is not a JSON object'] };
  for (const [key, v] of Object.entries(lowerKeys(raw))) {
    if (key === 'soa') {
      const soa = p.soa(v, zone);
      if (soa !== undefined) records.soa = soa;
      continue;
    }
    if (!(RECORD_KEYS as readonly string[]).includes(key)) {
      p.issue(`unsupported record type '${key}' ignored`);
      continue;
    }
    const k = key as RecordKey;
    if (!Array.isArray(v)) {
      p.issue(`${k}: expected an array, got ${JSON.stringify(v)}`);
      continue;
    }
    const seen = new Set<string>();
    const set: Rr[] = [];
    v.forEach((e, i) => {
      const where = `${k}[${i}]`;
      if (!isObj(e)) return p.issue(`${where}: expected an object`);
      const rr = p.entry(k, lowerKeys(e), where);
      if (rr === undefined) return;
      // A set of one (the usual case) has no duplicates to find.
      if (v.length > 1) {
        const id = rrKey(rr);
        if (seen.has(id)) return;
        seen.add(id);
      }
      set.push(rr);
    });
    if (set.length > 0) records.sets[k] = set;
  }
  return { records, issues: p.issues };
}
