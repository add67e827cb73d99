import { relativeName } from '@plexus/core';
import { findZone, lookup } from './lookup.js';
import { decodeQname, parseQuery, type Query } from './query.js';
import { buildResponse, encodeBody, EMPTY_BODY, headerOnly, RCODE, RCODE_NAMES, udpLimit, type Body } from './wire.js';
import type { ZoneView } from './zone.js';

/**
 * From request bytes to response bytes, synchronously, for everything we answer ourselves.
 * Answers are encoded once per (name, type) and kept until the data changes or the bounded cache
 * evicts them; a hit costs one allocation and a few copies.
 */

/** Counters shown by `status()`. */
export interface DnsCounters {
  queries: number;
  udp: number;
  tcp: number;
  /** Responses sent, by rcode name. */
  rcodes: Record<string, number>;
  /** Datagrams or frames that were not a usable query (dropped, or answered FORMERR). */
  malformed: number;
  /** UDP answers sent with TC=1 because they did not fit. */
  truncated: number;
  forwarded: number;
  forwardFailures: number;
  answerCacheHits: number;
  answerCacheMisses: number;
}

export function newCounters(): DnsCounters {
  return { queries: 0, udp: 0, tcp: 0, rcodes: {}, malformed: 0, truncated: 0, forwarded: 0, forwardFailures: 0, answerCacheHits: 0, answerCacheMisses: 0 };
}

interface Entry {
  body: Body;
  rcode: number;
  /** Unix second the entry is valid for when it holds a SOA (the serial is the clock), else -1. */
  second: number;
  /** The query name, lowercase. */
  name: string;
  /**
   * Made from the name's own field alone (no CNAME chain, no glue, no wildcard, not negative):
   * only a change of that field changes it. The others may depend on any field.
   */
  own: boolean;
  /** Hit since it was last passed over for eviction (second chance: hits cost no reordering). */
  used: boolean;
}

/** What the server does with a request. */
export type Decision =
  | { kind: 'reply'; bytes: Buffer }
  | { kind: 'drop' }
  /** Outside our zones with forwarders configured: the server forwards `query`. */
  | { kind: 'forward'; query: Query };

/** Default bound on cached answers (config `answerCacheSize`): least recently used go first. */
export const DEFAULT_ANSWER_CACHE = 20_000;

/** qtypes that ask for a zone transfer or are meta types we do not serve. */
const REFUSED_QTYPES = new Set([251, 252]);
const NOTIMP_QTYPES = new Set([249, 250, 253, 254]);

export interface ResponderOptions {
  maxUdpPayload: number;
  /** Forward names outside the zones instead of refusing them. */
  forwarding: boolean;
  /** Current unix time in seconds (injectable for tests). */
  now?: () => number;
  /** Most answers kept; default DEFAULT_ANSWER_CACHE. */
  cacheSize?: number;
}

export class Responder {
  readonly counters: DnsCounters = newCounters();
  /** Query key → slot of its answer in `ring`. */
  private readonly slots = new Map<string, number>();
  /**
   * The cached answers in a fixed ring swept by a CLOCK hand: an entry hit since the hand last
   * passed is spared once. A ring, not Map insertion order: V8 leaves deleted Map entries in place
   * until it rehashes, so "the oldest entry" of a Map under churn is found by walking past every
   * deleted one, which made each miss cost O(evictions) (42 % of CPU in a 100k-name profile).
   */
  private readonly ring: (Entry | undefined)[] = [];
  private readonly ringKeys: (string | undefined)[] = [];
  /** Slots emptied by an invalidation, reused before the hand evicts anything. */
  private readonly free: number[] = [];
  private hand = 0;
  /** Name → its query key, or keys (one per type and EDNS shape): most names have one. */
  private readonly byName = new Map<string, string | string[]>();
  /** Keys of entries that are not `own`. */
  private readonly dependent = new Set<string>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(
    private readonly view: () => ZoneView,
    private readonly opts: ResponderOptions,
  ) {
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
    this.maxEntries = opts.cacheSize ?? DEFAULT_ANSWER_CACHE;
  }

  /**
   * Drops the answers a change may have altered: without a change (or when the set of zones
   * changed), all of them; else those of the named fields and every answer that is not made from
   * its name's own field alone. The answers of other names with a field are made from their own data.
   */
  invalidate(change?: { names: readonly string[]; all: boolean }): void {
    if (change === undefined || change.all) {
      this.slots.clear();
      this.ring.length = 0;
      this.ringKeys.length = 0;
      this.free.length = 0;
      this.hand = 0;
      this.byName.clear();
      this.dependent.clear();
      return;
    }
    for (const name of change.names) {
      const keys = this.byName.get(name);
      if (typeof keys === 'string') this.drop(keys);
      else if (keys !== undefined) for (const key of [...keys]) this.drop(key);
    }
    for (const key of this.dependent) this.drop(key);
  }

  private drop(key: string): void {
    const slot = this.slots.get(key);
    if (slot === undefined) return;
    const e = this.ring[slot]!;
    this.slots.delete(key);
    this.ring[slot] = undefined;
    this.ringKeys[slot] = undefined;
    this.free.push(slot);
    if (!e.own) this.dependent.delete(key);
    const keys = this.byName.get(e.name);
    if (keys === key) this.byName.delete(e.name);
    else if (Array.isArray(keys)) {
      const i = keys.indexOf(key);
      if (i !== -1) keys.splice(i, 1);
      if (keys.length === 1) this.byName.set(e.name, keys[0]!);
    }
  }

  private remember(key: string, entry: Entry): void {
    if (this.maxEntries === 0) return;
    let slot = this.free.pop();
    if (slot === undefined && this.ring.length < this.maxEntries) slot = this.ring.length;
    if (slot === undefined) {
      // Full: the hand spares each entry hit since it last passed once, and takes the first that was not.
      for (;;) {
        const e = this.ring[this.hand];
        if (e === undefined || !e.used) break;
        e.used = false;
        this.hand = (this.hand + 1) % this.ring.length;
      }
      slot = this.hand;
      this.hand = (this.hand + 1) % this.ring.length;
      const old = this.ringKeys[slot];
      if (old !== undefined) {
        this.drop(old);
        // drop() offered the slot for reuse; it is taken right here.
        this.free.pop();
      }
    }
    this.ring[slot] = entry;
    this.ringKeys[slot] = key;
    this.slots.set(key, slot);
    const keys = this.byName.get(entry.name);
    if (keys === undefined) this.byName.set(entry.name, key);
    else if (typeof keys === 'string') this.byName.set(entry.name, [keys, key]);
    else keys.push(key);
    if (!entry.own) this.dependent.add(key);
  }

  get cachedAnswers(): number {
    return this.slots.size;
  }

  /** Counts an outgoing response by rcode. */
  count(rcode: number): void {
    const name = RCODE_NAMES[rcode] ?? String(rcode);
    this.counters.rcodes[name] = (this.counters.rcodes[name] ?? 0) + 1;
  }

  /** Decides what to send back for `msg`, which arrived over `transport`. Never throws. */
  handle(msg: Buffer, transport: 'udp' | 'tcp'): Decision {
    this.counters.queries++;
    this.counters[transport]++;
    const parsed = parseQuery(msg);
    if (parsed.kind === 'drop') {
      this.counters.malformed++;
      return { kind: 'drop' };
    }
    if (parsed.kind === 'error') {
      if (parsed.rcode === RCODE.FORMERR) this.counters.malformed++;
      this.count(parsed.rcode);
      return { kind: 'reply', bytes: headerOnly(parsed.id, parsed.flags, parsed.rcode) };
    }
    const q = parsed.query;
    const limit = transport === 'udp' ? udpLimit(q, this.opts.maxUdpPayload) : undefined;
    const reply = (body: Body, rcode: number, authoritative: boolean): Decision => {
      const r = buildResponse(msg, q, body, { rcode, authoritative, maxUdpPayload: this.opts.maxUdpPayload, limit });
      if (r.truncated) this.counters.truncated++;
      this.count(rcode);
      return { kind: 'reply', bytes: r.bytes };
    };
    // RFC 6891 §6.1.3: only EDNS version 0 exists; anything else gets BADVERS.
    if (q.edns !== undefined && q.edns.version !== 0) return reply(EMPTY_BODY, 16, false);
    if (q.qclass !== 1) return reply(EMPTY_BODY, RCODE.REFUSED, false);
    if (NOTIMP_QTYPES.has(q.qtype)) return reply(EMPTY_BODY, RCODE.NOTIMP, false);

    const now = this.now();
    const slot = this.slots.get(q.key);
    let entry = slot === undefined ? undefined : this.ring[slot];
    if (entry !== undefined && entry.second !== -1 && entry.second !== now) entry = undefined;
    if (entry !== undefined) {
      this.counters.answerCacheHits++;
      entry.used = true;
    } else {
      this.counters.answerCacheMisses++;
      const view = this.view();
      const name = decodeQname(msg);
      const result = REFUSED_QTYPES.has(q.qtype) ? undefined : lookup(view, name, q.qtype, now);
      if (result === undefined) {
        if (this.opts.forwarding && !REFUSED_QTYPES.has(q.qtype)) return { kind: 'forward', query: q };
        return reply(EMPTY_BODY, RCODE.REFUSED, false);
      }
      const rcode = result.rcode === 'NXDOMAIN' ? RCODE.NXDOMAIN : RCODE.NOERROR;
      const own =
        rcode === RCODE.NOERROR &&
        result.answers.length > 0 &&
        result.authorities.length === 0 &&
        result.additionals.length === 0 &&
        result.answers.every((a) => a.type !== 'CNAME' && a.name.toLowerCase() === name) &&
        ownField(view, name);
      entry = { body: encodeBody(result.answers, result.authorities, result.additionals), rcode, second: result.hasSoa ? now : -1, name, own, used: false };
      this.drop(q.key);
      this.remember(q.key, entry);
    }
    return reply(entry.body, entry.rcode, true);
  }

  /** SERVFAIL for a query whose forwarding failed. */
  servfail(msg: Buffer, q: Query, transport: 'udp' | 'tcp'): Buffer {
    const limit = transport === 'udp' ? udpLimit(q, this.opts.maxUdpPayload) : undefined;
    this.count(RCODE.SERVFAIL);
    return buildResponse(msg, q, EMPTY_BODY, { rcode: RCODE.SERVFAIL, authoritative: false, maxUdpPayload: this.opts.maxUdpPayload, limit }).bytes;
  }
}

/** True when `name` has a field of its own (its answer is not a wildcard's). */
function ownField(view: ZoneView, name: string): boolean {
  const zone = findZone(view, name);
  return zone !== undefined && zone.nodes.has(relativeName(name, zone.name));
}
