import type { Answer } from 'dns-packet';
import { fqdnOf, isAtOrBelow, parentName, relativeName } from '@plexus/core';
import type { NodeRecords, RecordKey, Rr } from './records.js';
import { someFieldEndsWith, type Zone, type ZoneView } from './zone.js';

/**
 * Answers one question from a zone view. Pure: no I/O, no clock (the SOA serial is passed in), so
 * the rules of COMPAT.md §1 are tested as tables.
 */

/** Query types, by number, that map to a record key of the JSON format. */
const TYPE_KEYS: ReadonlyMap<number, RecordKey> = new Map([
  [1, 'a'],
  [28, 'aaaa'],
  [5, 'cname'],
  [2, 'ns'],
  [16, 'txt'],
  [15, 'mx'],
  [33, 'srv'],
  [257, 'caa'],
]);
export const QTYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28, SRV: 33, ANY: 255, CAA: 257 } as const;

/**
 * RFC 8482: ANY gets one RRset, not everything, so it cannot be used for amplification. The set
 * is the first that exists in this order (a CNAME first, as it excludes the others).
 */
const ANY_ORDER: readonly RecordKey[] = ['cname', 'a', 'aaaa', 'mx', 'txt', 'ns', 'srv', 'caa'];
/** CNAME chains longer than this stop where they are (the client resolves the rest). */
export const MAX_CNAME_CHAIN = 8;

export interface LookupResult {
  rcode: 'NOERROR' | 'NXDOMAIN';
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
  /** True when a SOA is in the result: its serial is the clock, so the result is valid for that second only. */
  hasSoa: boolean;
}

/** Where a name landed: its zone, and its records when the name exists with data. */
interface Found {
  zone: Zone;
  node: NodeRecords | undefined;
  exists: boolean;
}

/** The most specific zone among `name` and its parents, or undefined when the name is not ours. */
export function findZone(view: ZoneView, name: string): Zone | undefined {
  for (let n: string | undefined = name; n !== undefined; n = parentName(n)) {
    const z = view.zones.get(n);
    if (z !== undefined) return z;
  }
  return undefined;
}

/** True when `name` is at or below one of the configured zones. */
export function isServed(view: ZoneView, name: string): boolean {
  return view.served.some((z) => isAtOrBelow(name, z));
}

/**
 * Where `name` lands in the most specific zone holding it: its own field, else what the view's
 * rules (config `wildcards`) make of a name without one. Undefined when no zone holds the name.
 */
export function resolveName(view: ZoneView, name: string): Found | undefined {
  const zone = findZone(view, name);
  if (zone === undefined) return undefined;
  const label = relativeName(name, zone.name);
  const node = zone.nodes.get(label);
  if (node !== undefined || label === '@') return { zone, node, exists: true };
  return view.rules === 'coredns' ? coreDnsLocation(zone, label) : rfc4592Location(view, zone, name, label);
}

/**
 * CoreDNS-redis (github.com/arvancloud/redis and the ThreeFold fork threefoldtech/coredns-redis,
 * redis.go: `findLocation`, `keyMatches`, `splitQuery`, read for this): strip the leftmost label;
 * the first "closest encloser" that exists decides, and "exists" means *some field ends with its
 * text* — a plain string suffix, not a label boundary, and for the empty rest any field at all.
 * Then its `*.` child answers, or nothing does (NXDOMAIN). So a name with no field of its own, even
 * one with names below it (`apps` above `www.apps`), is answered by a bare `*` when nothing closer
 * matches; and a field `myapps` makes `x.apps` NXDOMAIN although `apps` holds nothing. Fields are
 * matched as stored against the lowercased name (`ZoneState` keeps their case in this mode).
 */
function coreDnsLocation(zone: Zone, label: string): Found {
  for (let rest = label; ; ) {
    const dot = rest.indexOf('.');
    const encloser = dot === -1 ? '' : rest.slice(dot + 1);
    if (someFieldEndsWith(zone, encloser)) {
      const wild = zone.nodes.get(encloser === '' ? '*' : `*.${encloser}`);
      return { zone, node: wild, exists: wild !== undefined };
    }
    if (encloser === '') return { zone, node: undefined, exists: false };
    rest = encloser;
  }
}

/**
 * RFC 4592 §3.3: a name that exists without data (an empty non-terminal: it has names below it,
 * or zone hashes below it) is NODATA; otherwise only the closest encloser's own `*` child can
 * answer — the closest encloser being the nearest ancestor that exists (or the apex).
 */
function rfc4592Location(view: ZoneView, zone: Zone, name: string, label: string): Found {
  // The apex and names with something below them exist even without data: NODATA, not NXDOMAIN,
  // or resolvers that minimise QNAMEs (RFC 9156) would stop before reaching the names below.
  const exists = (l: string): boolean => zone.nodes.has(l) || zone.enclosers.has(l) || view.zoneAncestors.has(fqdnOf(l, zone.name));
  if (zone.enclosers.has(label) || view.zoneAncestors.has(name)) return { zone, node: undefined, exists: true };
  for (let rest = label; ; ) {
    const dot = rest.indexOf('.');
    const encloser = dot === -1 ? '' : rest.slice(dot + 1);
    if (encloser === '' || exists(encloser)) {
      const wild = zone.nodes.get(encloser === '' ? '*' : `*.${encloser}`);
      return { zone, node: wild, exists: wild !== undefined };
    }
    rest = encloser;
  }
}

function toAnswer(rr: Rr, name: string): Answer {
  return { name, type: rr.type, ttl: rr.ttl, class: 'IN', data: rr.data } as Answer;
}

function soaAnswer(zone: Zone, now: number, negative: boolean): Answer {
  // RFC 2308 §5: a negative answer is cached for min(SOA TTL, SOA minimum).
  const ttl = negative ? Math.min(zone.soa.ttl, zone.soa.data.minimum) : zone.soa.ttl;
  return { name: zone.name, type: 'SOA', ttl, class: 'IN', data: { ...zone.soa.data, serial: now >>> 0 } };
}

function recordsFor(found: Found, name: string, qtype: number, now: number): Answer[] {
  const node = found.node;
  if (qtype === QTYPE.SOA) return name === found.zone.name ? [soaAnswer(found.zone, now, false)] : [];
  if (node === undefined) return [];
  if (qtype === QTYPE.ANY) {
    for (const key of ANY_ORDER) {
      const set = node.sets[key];
      if (set !== undefined) return set.map((rr) => toAnswer(rr, name));
    }
    return name === found.zone.name ? [soaAnswer(found.zone, now, false)] : [];
  }
  const key = TYPE_KEYS.get(qtype);
  const set = key === undefined ? undefined : node.sets[key];
  return set === undefined ? [] : set.map((rr) => toAnswer(rr, name));
}

/** A and AAAA of `target` when it is in our data: glue for NS/MX/SRV, extras for a CNAME query. */
function addressesOf(view: ZoneView, target: string): Answer[] {
  const found = resolveName(view, target);
  const sets = found?.node?.sets;
  if (sets === undefined) return [];
  return [...(sets.a ?? []), ...(sets.aaaa ?? [])].map((rr) => toAnswer(rr, target));
}

function extrasFor(view: ZoneView, answers: Answer[]): Answer[] {
  const targets = new Set<string>();
  for (const a of answers) {
    if (a.type === 'NS' || a.type === 'CNAME') targets.add(a.data);
    else if (a.type === 'MX') targets.add(a.data.exchange);
    else if (a.type === 'SRV') targets.add(a.data.target);
  }
  return [...targets].flatMap((t) => addressesOf(view, t));
}

/**
 * Answers `qname`/`qtype` (lowercase name without the trailing dot, numeric type) at time `now`
 * (Unix seconds, the SOA serial). Undefined when the name is outside every configured zone.
 */
export function lookup(view: ZoneView, qname: string, qtype: number, now: number): LookupResult | undefined {
  if (!isServed(view, qname)) return undefined;
  let found = resolveName(view, qname);
  if (found === undefined) return undefined;
  const result: LookupResult = { rcode: 'NOERROR', answers: [], authorities: [], additionals: [], hasSoa: false };
  const visited = new Set([qname]);
  let name = qname;
  for (;;) {
    if (!found.exists) {
      // RFC 6604: after a CNAME the rcode is that of the last name in the chain.
      result.rcode = 'NXDOMAIN';
      result.authorities.push(soaAnswer(found.zone, now, true));
      break;
    }
    const direct = recordsFor(found, name, qtype, now);
    if (direct.length > 0) {
      result.answers.push(...direct);
      result.additionals.push(...extrasFor(view, direct));
      break;
    }
    const cname = found.node?.sets.cname?.[0];
    if (cname === undefined) {
      result.authorities.push(soaAnswer(found.zone, now, true));
      break;
    }
    // A name with a CNAME has no other data (RFC 1034 §3.6.2): answer the alias and follow it
    // while the target is in our data; a chain that leaves our zones is for the client to follow.
    result.answers.push(toAnswer(cname, name));
    const target = cname.data as string;
    if (visited.has(target) || visited.size > MAX_CNAME_CHAIN) break;
    visited.add(target);
    const next = resolveName(view, target);
    if (next === undefined || !isServed(view, target)) break;
    found = next;
    name = target;
  }
  result.hasSoa = [...result.answers, ...result.authorities].some((a) => a.type === 'SOA');
  return result;
}
