import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { PlexusError, formatHostPort, type HostPort, type Logger } from '@plexus/core';
import type { RouterLimits } from './config.js';
import { RouterConnection, type PortContext } from './connection.js';
import { TCPROUTER_ERRORS } from './errors.js';
import { ConnectionGate, type PortCounters } from './limits.js';
import type { RouteMatch, RouteTable } from './routes.js';

/**
 * Binds `server` to `addr` for the router's `kind` of port, and logs its later errors.
 * @throws ERR_TCPROUTER_LISTEN naming the address.
 */
export async function listenOn(server: Server, addr: HostPort, kind: 'http' | 'tls' | 'clients', log: Logger): Promise<Server> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: addr.host, port: addr.port, ipv6Only: isIPv6(addr.host), backlog: 1024 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const what = kind === 'clients' ? 'tunnel clients' : kind.toUpperCase();
    throw new PlexusError(TCPROUTER_ERRORS.ERR_TCPROUTER_LISTEN, `tcprouter cannot listen for ${what} on ${formatHostPort(addr)}: ${code ?? (err as Error).message}`, {
      cause: err,
      data: { address: formatHostPort(addr), port: kind },
    });
  }
  server.on('error', (err) => log.warn({ err, port: kind }, 'tcprouter listener error'));
  return server;
}

/**
 * One public port (HTTP by Host, or TLS by SNI): the listener, its limits, and the connections it
 * holds, indexed by the store route they use so that a removed or changed route can close them.
 */
export class PortServer implements PortContext {
  readonly gate: ConnectionGate;
  private server: Server | undefined;
  private readonly live = new Set<RouterConnection>();
  /** Connections routed by a store route, by name. */
  private readonly byStoreName = new Map<string, Set<RouterConnection>>();
  /** Bytes of connections already closed; live ones are added in `bytes()`. */
  private readonly closedBytes = { toBackend: 0, toClient: 0 };

  constructor(
    readonly kind: 'http' | 'tls',
    readonly limits: RouterLimits,
    readonly table: RouteTable,
    private readonly log: Logger,
    readonly tunnels: PortContext['tunnels'] = undefined,
    readonly acmeChallenge: PortContext['acmeChallenge'] = undefined,
  ) {
    this.gate = new ConnectionGate(limits, kind, log);
  }

  get counters(): PortCounters {
    return this.gate.counters;
  }

  /** Open client connections (peeking, connecting or relayed). */
  get size(): number {
    return this.live.size;
  }

  /** The bound address (the port resolved when 0 was asked for); undefined when not listening. */
  address(): HostPort | undefined {
    const a = this.server?.address();
    return typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : undefined;
  }

  /** Listens on `addr`. @throws ERR_TCPROUTER_LISTEN naming the address. */
  async listen(addr: HostPort): Promise<void> {
    // allowHalfOpen: a client that is done sending (FIN) still gets the backend's whole answer.
    const server = createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: false }, (s) => this.onConnection(s));
    this.server = await listenOn(server, addr, this.kind, this.log);
  }

  /** Stops listening and closes every connection. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const c of this.live) c.destroy();
    if (server?.listening === true) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Closes the live connections that the store routes of `names` carried (removed or changed routes). */
  closeStoreRoutes(names: readonly string[]): void {
    for (const name of names) {
      const conns = this.byStoreName.get(name);
      if (conns === undefined) continue;
      this.byStoreName.delete(name);
      for (const c of conns) {
        this.counters.closedByRouteChange++;
        c.destroy();
      }
    }
  }

  /** Bytes relayed, both directions, closed and live connections together. */
  bytes(): { toBackend: number; toClient: number } {
    const total = { ...this.closedBytes };
    for (const c of this.live) {
      const b = c.bytes;
      total.toBackend += b.toBackend;
      total.toClient += b.toClient;
    }
    return total;
  }

  routed(conn: RouterConnection, name: string | undefined, match: RouteMatch): void {
    if (match.source !== 'store' || name === undefined) return;
    let set = this.byStoreName.get(name);
    if (set === undefined) this.byStoreName.set(name, (set = new Set()));
    set.add(conn);
  }

  closed(conn: RouterConnection): void {
    this.live.delete(conn);
    this.gate.release(conn.ip);
    const b = conn.bytes;
    this.closedBytes.toBackend += b.toBackend;
    this.closedBytes.toClient += b.toClient;
    if (conn.match?.source === 'store' && conn.name !== undefined) {
      const set = this.byStoreName.get(conn.name);
      set?.delete(conn);
      if (set?.size === 0) this.byStoreName.delete(conn.name);
    }
  }

  private onConnection(s: Socket): void {
    // remoteAddress is undefined when the client is already gone.
    const ip = s.remoteAddress;
    if (ip === undefined || !this.gate.admit(ip)) {
      s.destroy();
      return;
    }
    const conn = new RouterConnection(this, s, ip);
    this.live.add(conn);
    conn.start();
  }
}
