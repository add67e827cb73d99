import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from '@plexus/core';
import type { RouterLimits } from './config.js';
import { TCPROUTER_ERRORS } from './errors.js';

/**
 * Admission and accounting of one port: connections in total and per host, and the log line when
 * a limit bites (at most one per LIMIT_LOG_MS, carrying the counts so far, so a flood does not
 * become a flood of log lines).
 */

/** How often a biting limit is logged at most, per port. */
export const LIMIT_LOG_MS = 10_000;

/** Times each limit bit on a port. */
export interface LimitCounters {
  /** Refused at accept: the port held `maxConnections`. */
  maxConnections: number;
  /** Refused at accept: the client's host held `maxPerIp`. */
  maxPerIp: number;
  /** Closed: no whole ClientHello / HTTP header within `peekTimeoutMs`. */
  peekTimeout: number;
  /** Closed: more than `maxPeekBytes` without a whole ClientHello / HTTP header. */
  peekTooLarge: number;
  /** The backend did not accept within `connectTimeoutMs` (also counted in `backendErrors`). */
  connectTimeout: number;
  /** A relayed connection closed after `idleTimeoutMs` without a byte. */
  idleTimeout: number;
}

/** What happened to the connections of one port (cumulative since start). */
export interface PortCounters {
  accepted: number;
  /** Relayed to a backend (the backend accepted) or through a tunnel. */
  routed: number;
  /** Of those, relayed through a tunnel session. */
  tunnelled: number;
  /** No route for the name (HTTP: 404; TLS: closed). */
  unknown: number;
  /** Not a ClientHello / HTTP request, or one without a name and no catch-all (HTTP: 400). */
  malformed: number;
  /** Routed to a tunnel client that has no session (HTTP: 502; TLS: closed). */
  tunnelWithoutSession: number;
  /** The backend refused, failed or did not answer in time (HTTP: 502; TLS: closed). */
  backendErrors: number;
  /** Live connections closed because their store route was removed or changed. */
  closedByRouteChange: number;
  limits: LimitCounters;
}

/** All counters at zero. */
export function newPortCounters(): PortCounters {
  return {
    accepted: 0,
    routed: 0,
    tunnelled: 0,
    unknown: 0,
    malformed: 0,
    tunnelWithoutSession: 0,
    backendErrors: 0,
    closedByRouteChange: 0,
    limits: { maxConnections: 0, maxPerIp: 0, peekTimeout: 0, peekTooLarge: 0, connectTimeout: 0, idleTimeout: 0 },
  };
}

/**
 * The host a limit counts against: an IPv4 address, or the /64 of an IPv6 address (one machine
 * usually has a whole /64, as in the core's p2p limits). IPv4-mapped IPv6 counts as IPv4.
 */
export function hostKey(ip: string): string {
  if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7);
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}

/** Admission of one port: slots in total and per host, counters, rate-limited warnings. */
export class ConnectionGate {
  readonly counters = newPortCounters();
  private readonly perHost = new Map<string, number>();
  private open = 0;
  private lastLog = 0;
  private readonly lastWarn = new Map<string, number>();

  constructor(
    private readonly limits: Pick<RouterLimits, 'maxConnections' | 'maxPerIp'>,
    private readonly port: 'http' | 'tls' | 'clients',
    private readonly log: Logger,
  ) {}

  /** Connections admitted and not yet released. */
  get size(): number {
    return this.open;
  }

  /** Takes a slot for a new connection from `ip`, or counts and logs the refusal. */
  admit(ip: string): boolean {
    this.counters.accepted++;
    const key = hostKey(ip);
    const n = this.perHost.get(key) ?? 0;
    if (this.open >= this.limits.maxConnections) return this.bit('maxConnections', ip);
    if (n >= this.limits.maxPerIp) return this.bit('maxPerIp', ip);
    this.open++;
    this.perHost.set(key, n + 1);
    return true;
  }

  /** Gives back the slot of a connection from `ip` (once per admitted connection). */
  release(ip: string): void {
    const key = hostKey(ip);
    this.open--;
    const n = (this.perHost.get(key) ?? 1) - 1;
    if (n <= 0) this.perHost.delete(key);
    else this.perHost.set(key, n);
  }

  /** Counts a limit that bit and logs it (rate-limited). Returns false, for `admit`. */
  bit(what: keyof LimitCounters, ip: string): false {
    this.counters.limits[what]++;
    const now = Date.now();
    if (now - this.lastLog >= LIMIT_LOG_MS) {
      this.lastLog = now;
      this.log.warn({ code: TCPROUTER_ERRORS.ERR_TCPROUTER_LIMIT, port: this.port, limit: what, ip, open: this.open, counts: { ...this.counters.limits }, limits: this.limits }, 'tcprouter: a limit bites');
    }
    return false;
  }

  /** A warning about traffic (a backend down, a tunnel without session): one per `code` per LIMIT_LOG_MS. */
  warn(code: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    if (now - (this.lastWarn.get(code) ?? 0) < LIMIT_LOG_MS) return;
    this.lastWarn.set(code, now);
    this.log.warn({ code, port: this.port, ...fields, counts: { backendErrors: this.counters.backendErrors, tunnelWithoutSession: this.counters.tunnelWithoutSession } }, msg);
  }
}
