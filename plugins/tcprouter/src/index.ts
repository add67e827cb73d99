import { TCPROUTER_KEY_PATTERN, acmeHttp01Key, definePlugin, fqdnOfTcprouterKey, formatHostPort, parseHostPort, type CapabilityMap, type HostPort, type PluginContext, type PluginInstance, type StoreWatcher } from '@plexus/core';
import { TcprouterConfigSchema, type TcprouterConfig } from './config.js';
import { PortServer } from './port-server.js';
import { RouteTable, type Route, type RouteSource } from './routes.js';
import { TunnelServer } from './tunnel-server.js';

export { TcprouterConfigSchema, TCPROUTER_DEFAULTS, type TcprouterConfig, type RouterLimits, type TunnelLimits, type StaticRouteConfig } from './config.js';
export { TunnelServer, type TunnelCounters } from './tunnel-server.js';
export { TCPROUTER_ERRORS } from './errors.js';
export { parseClientHello, type ClientHelloResult } from './sni.js';
export { parseHttpHost, hostOf, type HttpHostResult } from './http-host.js';
export { RouteTable, routeOfValue, secretDigest, MAX_MALFORMED_TRACKED, type Route, type RouteMatch, type RouteSource } from './routes.js';
export { hostKey, LIMIT_LOG_MS, type PortCounters, type LimitCounters } from './limits.js';
export { httpResponse } from './connection.js';
export { acmeChallengeToken, challengeResponse } from './acme-challenge.js';

/** Where a name is routed now, as other plugins see it. */
export interface RouterRoute {
  readonly source: RouteSource;
  /** Backend IP; '' for a tunnel route. */
  readonly addr: string;
  readonly httpPort: number;
  readonly tlsPort: number;
  /** The route goes to a tunnel client (its secret is not shown). */
  readonly tunnel: boolean;
}

/**
 * What `tcprouter` offers other plugins (`ctx.capability('router')`): where it listens and where
 * a name goes. Read-only.
 */
export interface RouterCapability {
  /** The bound listeners (ports resolved when 0 was configured). */
  addresses(): { http: HostPort | undefined; tls: HostPort | undefined; clients: HostPort | undefined };
  /** The route a connection for `name` takes now (static, store, then catch-all), or undefined. */
  lookup(name: string): RouterRoute | undefined;
}

// Adds `router` to the core's capability map, so `ctx.capability('router')` is typed without a cast.
declare module '@plexus/core' {
  interface CapabilityMap {
    router: RouterCapability;
  }
}

interface Running {
  table: RouteTable;
  http: PortServer;
  tls: PortServer;
  clients: TunnelServer;
  watcher: StoreWatcher | undefined;
}

const view = (route: Route, source: RouteSource): RouterRoute => ({ source, addr: route.clientSecret === '' ? route.addr : '', httpPort: route.httpPort, tlsPort: route.tlsPort, tunnel: route.clientSecret !== '' });

/** The running router: two public ports, a routing table kept current from the store's replica. */
export class TcprouterService implements PluginInstance {
  private running: Running | undefined;
  private starting: Partial<Running> = {};

  /** Keeps the context only: the core builds every instance before starting any (no I/O here). */
  constructor(private readonly ctx: PluginContext<TcprouterConfig>) {}

  async start(): Promise<void> {
    if (this.running !== undefined) return;
    const cfg = this.ctx.config;
    const log = this.ctx.log;
    const store = this.ctx.capability('store');
    try {
      const table = new RouteTable(cfg.routes, cfg.catchAll, log);
      const clients = new TunnelServer(cfg.tunnel, table, log);
      // HTTP-01 key authorizations are read from the store on demand: challenges are rare and short-lived.
      const acmeChallenge = async (host: string, token: string): Promise<string | undefined> => (await store.redis.get(acmeHttp01Key(host, token))) ?? undefined;
      const http = new PortServer('http', cfg.limits, table, log, clients, acmeChallenge);
      const tls = new PortServer('tls', cfg.limits, table, log, clients);
      this.starting = { table, http, tls, clients };
      // Routes first: a connection accepted before the first load would be refused for nothing.
      this.starting.watcher = await store.watch(
        { patterns: [TCPROUTER_KEY_PATTERN], kind: 'string', accept: (key) => fqdnOfTcprouterKey(key) !== undefined, log },
        (batch) => {
          const moved = table.applyStore(batch.changes);
          if (moved.length === 0) return;
          http.closeStoreRoutes(moved);
          tls.closeStoreRoutes(moved);
          clients.dropOrphans();
        },
      );
      await http.listen(parseHostPort(cfg.listen.http, true, true)!);
      await tls.listen(parseHostPort(cfg.listen.tls, true, true)!);
      await clients.listen(parseHostPort(cfg.listen.clients, true, true)!);
      this.running = { table, http, tls, clients, watcher: this.starting.watcher };
      this.starting = {};
      log.info({ http: fmt(http.address()), tls: fmt(tls.address()), clients: fmt(clients.address()), routes: table.counts(), limits: cfg.limits, tunnel: cfg.tunnel }, 'tcprouter routing');
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    // Whatever start() got to, whether it finished or not; cleared first so a second stop() is a no-op.
    const { http, tls, clients, watcher } = this.running ?? this.starting;
    this.running = undefined;
    this.starting = {};
    await watcher?.stop();
    await Promise.all([http?.stop(), tls?.stop(), clients?.stop()]);
  }

  capabilities(): Partial<CapabilityMap> {
    const r = this.running;
    if (r === undefined) return {};
    return {
      router: {
        addresses: () => ({ http: r.http.address(), tls: r.tls.address(), clients: r.clients.address() }),
        lookup: (name) => {
          const m = r.table.lookup(name.toLowerCase().replace(/\.$/, ''));
          return m === undefined ? undefined : view(m.route, m.source);
        },
      },
    };
  }

  async status(): Promise<Record<string, unknown>> {
    const r = this.running;
    if (r === undefined) return { routing: false };
    const routes = r.table.counts();
    const port = (p: PortServer) => ({ listen: fmt(p.address()), open: p.size, ...structuredClone(p.counters), bytes: p.bytes() });
    const http = port(r.http);
    const tls = port(r.tls);
    return {
      routing: true,
      routes,
      tunnel: r.clients.status(),
      connectionsOpen: http.open + tls.open,
      bytesRelayed: { toBackend: http.bytes.toBackend + tls.bytes.toBackend, toClient: http.bytes.toClient + tls.bytes.toClient },
      ports: { http, tls },
      watch: r.watcher?.status(),
    };
  }
}

const fmt = (a: HostPort | undefined): string | undefined => (a === undefined ? undefined : formatHostPort(a));

/** TLS by SNI and HTTP by Host to the backends of static and store routes; TLS passed through untouched. */
export const plugin = definePlugin<TcprouterConfig>({
  name: 'tcprouter',
  version: '0.1.0',
  description: 'TCP router: TLS by SNI and HTTP by Host to the backends of the store routes, TLS never terminated',
  provides: ['router'],
  requires: ['store'],
  configSchema: TcprouterConfigSchema,
  create: (ctx) => new TcprouterService(ctx),
});

export default plugin;
