import { lookup } from './lookup.js';
import { decodeQname, parseQuery, type Query } from './query.js';
import { buildResponse, encodeBody, EMPTY_BODY, headerOnly, RCODE, RCODE_NAMES, udpLimit, type Body } from './wire.js';
import type { ZoneView } from './zone.js';

/**
 * From request bytes to response bytes, synchronously, for everything we answer ourselves.
 * Answers are encoded once per (name, type) and kept until the data changes; a hit costs one
 * allocation and a few copies.
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
}

/** What the server does with a request. */
export type Decision =
  | { kind: 'reply'; bytes: Buffer }
  | { kind: 'drop' }
  /** Outside our zones with forwarders configured: the server forwards `query`. */
  | { kind: 'forward'; query: Query };

/** Upper bound on cached answers; past it the cache starts over (random-name floods cannot grow it). */
const MAX_ENTRIES = 100_000;

/** qtypes that ask for a zone transfer or are meta types we do not serve. */
const REFUSED_QTYPES = new Set([251, 252]);
const NOTIMP_QTYPES = new Set([249, 250, 253, 254]);

export interface ResponderOptions {
  maxUdpPayload: number;
  /** Forward names outside the zones instead of refusing them. */
  forwarding: boolean;
  /** Current unix time in seconds (injectable for tests). */
  now?: () => number;
}

export class Responder {
  readonly counters: DnsCounters = newCounters();
  private readonly cache = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(
    private readonly view: () => ZoneView,
    private readonly opts: ResponderOptions,
  ) {
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000));
  }

  /** Drops every cached answer: called on every change of the zone data. */
  invalidate(): void {
    this.cache.clear();
  }

  get cachedAnswers(): number {
    return this.cache.size;
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
    let entry = this.cache.get(q.key);
    if (entry !== undefined && entry.second !== -1 && entry.second !== now) entry = undefined;
    if (entry !== undefined) this.counters.answerCacheHits++;
    else {
      this.counters.answerCacheMisses++;
      const view = this.view();
      const result = REFUSED_QTYPES.has(q.qtype) ? undefined : lookup(view, decodeQname(msg), q.qtype, now);
      if (result === undefined) {
        if (this.opts.forwarding && !REFUSED_QTYPES.has(q.qtype)) return { kind: 'forward', query: q };
        return reply(EMPTY_BODY, RCODE.REFUSED, false);
      }
      const rcode = result.rcode === 'NXDOMAIN' ? RCODE.NXDOMAIN : RCODE.NOERROR;
      entry = { body: encodeBody(result.answers, result.authorities, result.additionals), rcode, second: result.hasSoa ? now : -1 };
      if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
      this.cache.set(q.key, entry);
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
