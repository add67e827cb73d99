import { createHash, timingSafeEqual } from 'node:crypto';
import { canonicalIp, decodeService, fqdnOfTcprouterKey, type Logger } from '@plexus/core';
import type { StaticRouteConfig } from './config.js';
import { TCPROUTER_ERRORS } from './errors.js';

/**
 * The routing table: the operator's static routes, the store's routes (kept current by
 * `store.watch`, so a lookup never waits on Redis, unlike the original that reads Redis on every
 * connection), and the catch-all. Lookup order: static, store, catch-all.
 */

/** Where a name goes. A non-empty `clientSecret` makes it a tunnel route (`addr` is then unused). */
export interface Route {
  readonly addr: string;
  readonly httpPort: number;
  readonly tlsPort: number;
  readonly clientSecret: string;
}

/** Which part of the table answered a lookup. */
export type RouteSource = 'static' | 'store' | 'catchAll';

/** A lookup's answer. */
export interface RouteMatch {
  readonly route: Route;
  readonly source: RouteSource;
}

/** Malformed keys remembered for "warn once each"; past this many, the rest are counted, not logged. */
export const MAX_MALFORMED_TRACKED = 10_000;

const sameRoute = (a: Route, b: Route): boolean => a.addr === b.addr && a.httpPort === b.httpPort && a.tlsPort === b.tlsPort && a.clientSecret === b.clientSecret;

const validPort = (p: number): boolean => Number.isInteger(p) && p >= 0 && p <= 65535;

/** A store value as a Route, or the reason it cannot be one. */
export function routeOfValue(raw: string): Route | string {
  let decoded;
  try {
    decoded = decodeService(raw).service;
  } catch (err) {
    return (err as Error).message;
  }
  const { addr, httpport, tlsport, clientsecret } = decoded;
  if (!validPort(httpport) || !validPort(tlsport)) return 'port out of range';
  if (clientsecret !== '') return { addr, httpPort: httpport, tlsPort: tlsport, clientSecret: clientsecret };
  const ip = canonicalIp(addr);
  if (ip === undefined) return addr === '' ? 'no addr and no clientsecret' : 'addr is not an IP';
  return { addr: ip.ip, httpPort: httpport, tlsPort: tlsport, clientSecret: '' };
}

/** The key of a tunnel secret in the table and in the session pools (never logged with the secret). */
export function secretDigest(secret: Buffer): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Static routes, the store's routes and the catch-all, looked up in that order. */
export class RouteTable {
  private readonly staticRoutes: ReadonlyMap<string, Route>;
  private readonly catchAll: Route | undefined;
  private store = new Map<string, Route>();
  /**
   * Key → the value its route was read from. A full re-read of the store (`store.watch` every
   * `resyncMs`) delivers every key again: a value seen before costs a lookup, not a decode. At 10k
   * routes decoding them all held the event loop, and every proxied connection, for ~220 ms.
   */
  private readonly raws = new Map<string, string>();
  /** Key → digest of the malformed value already warned about. */
  private readonly malformed = new Map<string, string>();
  /** Logged once: malformed keys beyond MAX_MALFORMED_TRACKED are skipped without a warning each. */
  private overflowLogged = false;
  private tunnels = 0;
  /** Tunnel secrets of the store's routes, by SHA-256 (hex): the secret and the names it routes. */
  private readonly secrets = new Map<string, { secret: Buffer; names: Set<string> }>();

  constructor(
    staticRoutes: ReadonlyMap<string, StaticRouteConfig>,
    catchAll: StaticRouteConfig | undefined,
    private readonly log: Logger,
  ) {
    this.staticRoutes = new Map([...staticRoutes].map(([name, r]) => [name, { ...r, clientSecret: '' }]));
    this.catchAll = catchAll === undefined ? undefined : { ...catchAll, clientSecret: '' };
  }

  /** The route for `name` (already lowercased, no trailing dot; undefined: the client named none). */
  lookup(name: string | undefined): RouteMatch | undefined {
    if (name !== undefined) {
      const s = this.staticRoutes.get(name);
      if (s !== undefined) return { route: s, source: 'static' };
      const r = this.store.get(name);
      if (r !== undefined) return { route: r, source: 'store' };
    }
    return this.catchAll === undefined ? undefined : { route: this.catchAll, source: 'catchAll' };
  }

  /**
   * Applies a batch of `store.watch` (key → value, undefined = gone). Returns the names whose store
   * route was removed or now goes elsewhere: their live connections must be closed. A value
   * rewritten unchanged (a re-expose to the same address) changes nothing.
   */
  applyStore(changes: ReadonlyMap<string, string | undefined>): string[] {
    const moved: string[] = [];
    for (const [key, raw] of changes) {
      const name = fqdnOfTcprouterKey(key);
      if (name === undefined) continue;
      if (raw !== undefined && this.raws.get(key) === raw) continue;
      if (raw === undefined) this.raws.delete(key);
      else this.raws.set(key, raw);
      const before = this.store.get(name);
      const route = raw === undefined ? undefined : this.parse(key, raw);
      if (route === undefined) this.store.delete(name);
      else this.store.set(name, route);
      if (raw === undefined) this.forgetMalformed(key);
      if (before !== undefined && (route === undefined || !sameRoute(before, route))) moved.push(name);
      this.tunnels += (route?.clientSecret ? 1 : 0) - (before?.clientSecret ? 1 : 0);
      if (before?.clientSecret) this.unindexSecret(name, before.clientSecret);
      if (route?.clientSecret) this.indexSecret(name, route.clientSecret);
    }
    return moved;
  }

  /**
   * The routes a tunnel client's secret serves: its digest (the session pool's key) and names, or
   * undefined when no store route has that secret. The bytes are compared in constant time.
   */
  tunnelSecret(presented: Buffer): { digest: string; names: ReadonlySet<string> } | undefined {
    const digest = secretDigest(presented);
    const entry = this.secrets.get(digest);
    if (entry === undefined || entry.secret.length !== presented.length || !timingSafeEqual(entry.secret, presented)) return undefined;
    return { digest, names: entry.names };
  }

  /** Whether some store route still has the secret of this digest. */
  hasSecretDigest(digest: string): boolean {
    return this.secrets.has(digest);
  }

  /** The names routed to the secret of this digest (empty when none). */
  namesOfSecret(digest: string): string[] {
    return [...(this.secrets.get(digest)?.names ?? [])];
  }

  private indexSecret(name: string, secret: string): void {
    const bytes = Buffer.from(secret, 'utf8');
    const digest = secretDigest(bytes);
    let entry = this.secrets.get(digest);
    if (entry === undefined) this.secrets.set(digest, (entry = { secret: bytes, names: new Set() }));
    entry.names.add(name);
  }

  private unindexSecret(name: string, secret: string): void {
    const digest = secretDigest(Buffer.from(secret, 'utf8'));
    const entry = this.secrets.get(digest);
    entry?.names.delete(name);
    if (entry?.names.size === 0) this.secrets.delete(digest);
  }

  private parse(key: string, raw: string): Route | undefined {
    const r = routeOfValue(raw);
    if (typeof r !== 'string') {
      this.forgetMalformed(key);
      return r;
    }
    const digest = createHash('sha256').update(raw).digest('base64url').slice(0, 16);
    if (this.malformed.get(key) === digest) return undefined; // warned already
    if (this.malformed.has(key) || this.malformed.size < MAX_MALFORMED_TRACKED) {
      this.malformed.set(key, digest);
      this.log.warn({ code: TCPROUTER_ERRORS.ERR_TCPROUTER_ROUTE_INVALID, key: key.slice(0, 300), issue: r }, 'skipped a malformed tcprouter route');
    } else if (!this.overflowLogged) {
      this.overflowLogged = true;
      this.log.warn({ code: TCPROUTER_ERRORS.ERR_TCPROUTER_ROUTE_INVALID, tracked: MAX_MALFORMED_TRACKED }, 'more malformed tcprouter routes than are warned about one by one; the rest are skipped silently');
    }
    return undefined;
  }

  private forgetMalformed(key: string): void {
    this.malformed.delete(key);
  }

  /** Numbers for `status()`; `malformed` counts at most MAX_MALFORMED_TRACKED keys. */
  counts(): { static: number; store: number; catchAll: boolean; tunnel: number; malformed: number } {
    return { static: this.staticRoutes.size, store: this.store.size, catchAll: this.catchAll !== undefined, tunnel: this.tunnels, malformed: this.malformed.size };
  }
}
