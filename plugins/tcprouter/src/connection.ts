import { connect, type Socket } from 'node:net';
import { formatHostPort, literalLookup, type YamuxStream } from '@plexus/core';
import type { RouterLimits } from './config.js';
import { TCPROUTER_ERRORS } from './errors.js';
import { parseHttpHost } from './http-host.js';
import type { ConnectionGate } from './limits.js';
import type { RouteMatch, RouteTable } from './routes.js';
import { parseClientHello } from './sni.js';
import { acmeChallengeToken, challengeResponse } from './acme-challenge.js';

/**
 * One client connection on a public port, from accept to close: peek (ClientHello or HTTP head,
 * bounded in bytes and by one deadline from the accept), look the name up, connect to the
 * backend, replay the peeked bytes and relay both ways untouched. TLS is never terminated.
 */

/** What a connection needs from its port. */
export interface PortContext {
  readonly kind: 'http' | 'tls';
  readonly limits: RouterLimits;
  readonly gate: ConnectionGate;
  readonly table: RouteTable;
  /** Streams to tunnel clients, by secret (undefined: no session can take one now). */
  readonly tunnels: { open(secret: string): YamuxStream | undefined } | undefined;
  /**
   * HTTP port only: the key authorization of a pending ACME HTTP-01 challenge for (host, token),
   * undefined when none is pending (see acme-challenge.ts).
   */
  readonly acmeChallenge?: ((host: string, token: string) => Promise<string | undefined>) | undefined;
  /** Called once the route is chosen, so a route change can find the connection. */
  routed(conn: RouterConnection, name: string | undefined, match: RouteMatch): void;
  /** Called once, when both sockets are closed. */
  closed(conn: RouterConnection): void;
}

/** How long a refused client gets to read our answer and close before it is cut. */
const LINGER_MS = 2_000;

const RESPONSES = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  502: 'Bad Gateway',
} as const;

/** A short text response that ends the connection: what HTTP clients get instead of a silent close. */
export function httpResponse(status: keyof typeof RESPONSES): Buffer {
  const body = `${status} ${RESPONSES[status]}\n`;
  return Buffer.from(`HTTP/1.1 ${status} ${RESPONSES[status]}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`, 'latin1');
}

/** One accepted client connection and, once routed, its backend connection. */
export class RouterConnection {
  /** Bytes read from the client before the route was chosen; replayed to the backend first. */
  private peeked: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  private backend: Socket | undefined;
  /** For a tunnel route: the yamux stream to the tunnel client, in place of a backend socket. */
  private tunnel: YamuxStream | undefined;
  private open = 1;
  private done = false;
  /** The backend accepted: bytes flow both ways. */
  private relaying = false;
  /** Name and source of the route, once chosen. */
  name: string | undefined;
  match: RouteMatch | undefined;

  constructor(
    private readonly port: PortContext,
    readonly client: Socket,
    readonly ip: string,
  ) {}

  /** Bytes relayed so far: client → backend (replayed bytes included) and backend → client. */
  get bytes(): { toBackend: number; toClient: number } {
    return { toBackend: this.backend?.bytesWritten ?? this.tunnel?.bytesOut ?? 0, toClient: this.relaying ? this.client.bytesWritten : 0 };
  }

  start(): void {
    const { client, port } = this;
    client.on('error', () => this.destroy());
    client.once('close', (hadError) => {
      // After a clean close the backend finishes on its own (its last bytes may still be in flight).
      if (hadError || !this.relaying) {
        this.backend?.destroy();
        this.tunnel?.destroy();
      }
      this.socketClosed();
    });
    client.on('data', this.onPeek);
    client.once('end', this.onPeekEnd);
    // One deadline for the whole ClientHello / header: bytes trickled one by one do not extend it.
    this.timer = setTimeout(() => {
      port.gate.bit('peekTimeout', this.ip);
      this.refuse(408);
    }, port.limits.peekTimeoutMs);
  }

  /** Closes both sides now (route removed, idle, plugin stopping). */
  destroy(): void {
    clearTimeout(this.timer);
    this.client.destroy();
    this.backend?.destroy();
    this.tunnel?.destroy();
  }

  private readonly onPeek = (chunk: Buffer): void => {
    const { port } = this;
    this.peeked = this.peeked.length === 0 ? chunk : Buffer.concat([this.peeked, chunk]);
    const r = port.kind === 'tls' ? parseClientHello(this.peeked) : parseHttpHost(this.peeked);
    if (r.kind === 'invalid') {
      port.gate.counters.malformed++;
      return this.refuse(400);
    }
    if (r.kind === 'incomplete') {
      if (this.peeked.length < port.limits.maxPeekBytes) return;
      port.gate.bit('peekTooLarge', this.ip);
      return this.refuse(431);
    }
    this.route(r.kind === 'complete' && 'serverName' in r ? r.serverName : r.host);
  };

  /** The client finished sending (FIN) before its ClientHello / header was whole: a truncated head. */
  private readonly onPeekEnd = (): void => {
    this.port.gate.counters.malformed++;
    this.refuse(400);
  };

  private route(name: string | undefined): void {
    const { port, client } = this;
    clearTimeout(this.timer);
    client.off('data', this.onPeek);
    client.off('end', this.onPeekEnd);
    // Nothing more is read until the backend takes it: what we buffer stays what we peeked.
    client.pause();
    const lookup = port.kind === 'http' ? port.acmeChallenge : undefined;
    const token = lookup !== undefined && name !== undefined ? acmeChallengeToken(this.peeked) : undefined;
    if (lookup !== undefined && name !== undefined && token !== undefined) {
      // The store answers in a millisecond; a store that hangs must not hold the client forever.
      this.timer = setTimeout(() => this.destroy(), port.limits.connectTimeoutMs);
      lookup(name, token).then(
        (keyAuthorization) => this.answerChallenge(name, keyAuthorization),
        () => this.answerChallenge(name, undefined),
      );
      return;
    }
    this.routeByTable(name);
  }

  /** Answers a pending HTTP-01 challenge itself; anything else goes on to the route. */
  private answerChallenge(name: string, keyAuthorization: string | undefined): void {
    clearTimeout(this.timer);
    if (this.client.destroyed) return;
    if (keyAuthorization === undefined) return this.routeByTable(name);
    this.peeked = Buffer.alloc(0);
    this.client.on('data', () => undefined);
    this.client.resume();
    this.client.end(challengeResponse(keyAuthorization));
    this.timer = setTimeout(() => this.client.destroy(), LINGER_MS);
  }

  private routeByTable(name: string | undefined): void {
    const { port } = this;
    const match = port.table.lookup(name);
    if (match === undefined) {
      port.gate.counters.unknown++;
      return this.refuse(404);
    }
    this.name = name;
    this.match = match;
    port.routed(this, name, match);
    const { route } = match;
    if (route.clientSecret !== '') {
      const stream = port.tunnels?.open(route.clientSecret);
      if (stream !== undefined) return this.relayTunnel(stream);
      port.gate.counters.tunnelWithoutSession++;
      port.gate.warn(TCPROUTER_ERRORS.ERR_TCPROUTER_NO_TUNNEL, { name }, 'tcprouter: a tunnel route has no session');
      return this.refuse(502);
    }
    const backendPort = port.kind === 'tls' ? route.tlsPort : route.httpPort;
    if (backendPort === 0) return this.backendFailed(name, route.addr, 0, 'the route has no port for this listener');
    this.connectBackend(name, route.addr, backendPort);
  }

  private connectBackend(name: string | undefined, host: string, portNumber: number): void {
    const { port, client } = this;
    // noDelay: a relay must not add Nagle delays to interactive traffic; the endpoints decide batching.
    const backend = connect({ host, port: portNumber, allowHalfOpen: true, noDelay: true, lookup: literalLookup });
    this.backend = backend;
    this.open++;
    let failure = 'closed before connecting';
    backend.once('close', (hadError) => {
      if (!this.relaying && !client.destroyed) this.backendFailed(name, host, portNumber, failure);
      else if (hadError) client.destroy();
      this.socketClosed();
    });
    backend.on('error', (err: NodeJS.ErrnoException) => {
      failure = err.code ?? err.message;
      if (this.relaying) this.destroy();
    });
    this.timer = setTimeout(() => {
      failure = `no answer within ${port.limits.connectTimeoutMs} ms`;
      port.gate.bit('connectTimeout', this.ip);
      backend.destroy();
    }, port.limits.connectTimeoutMs);
    backend.once('connect', () => {
      this.relaying = true;
      clearTimeout(this.timer);
      port.gate.counters.routed++;
      backend.write(this.peeked);
      this.peeked = Buffer.alloc(0);
      // pipe() follows backpressure both ways, so at most a socket's buffers are held per direction,
      // and ends the other side on FIN so half-closed streams (a client done sending) still work.
      client.pipe(backend);
      backend.pipe(client);
      const idle = (): void => {
        port.gate.bit('idleTimeout', this.ip);
        this.destroy();
      };
      client.setTimeout(port.limits.idleTimeoutMs, idle);
      backend.setTimeout(port.limits.idleTimeoutMs, idle);
    });
  }

  /**
   * Relays through a new yamux stream to the tunnel client: the peeked bytes first (the client
   * peeks the first byte to choose its TLS or plain local service), then both ways untouched.
   */
  private relayTunnel(stream: YamuxStream): void {
    const { port, client } = this;
    this.tunnel = stream;
    this.open++;
    this.relaying = true;
    port.gate.counters.routed++;
    port.gate.counters.tunnelled++;
    stream.on('error', () => this.destroy());
    stream.once('close', () => {
      // Reset by the client, its session gone, or closed before both directions ended: cut the visitor too.
      if (!(stream.readableEnded && stream.writableFinished)) client.destroy();
      this.socketClosed();
    });
    stream.write(this.peeked);
    this.peeked = Buffer.alloc(0);
    client.pipe(stream);
    stream.pipe(client);
    client.setTimeout(port.limits.idleTimeoutMs, () => {
      port.gate.bit('idleTimeout', this.ip);
      this.destroy();
    });
  }

  private backendFailed(name: string | undefined, host: string, portNumber: number, why: string): void {
    const { port } = this;
    port.gate.counters.backendErrors++;
    port.gate.warn(TCPROUTER_ERRORS.ERR_TCPROUTER_BACKEND, { name, backend: formatHostPort({ host, port: portNumber }), why }, 'tcprouter: a backend cannot be reached');
    this.refuse(502);
  }

  /**
   * Ends the client connection: HTTP with a short response (`status`), TLS with a plain close
   * (no alert: we never speak TLS). What the client sends meanwhile is read and dropped.
   */
  private refuse(status: keyof typeof RESPONSES): void {
    const { client, port } = this;
    clearTimeout(this.timer);
    client.off('data', this.onPeek);
    client.off('end', this.onPeekEnd);
    this.peeked = Buffer.alloc(0);
    if (client.destroyed) return;
    client.on('data', () => undefined);
    client.resume();
    if (port.kind === 'http') client.end(httpResponse(status));
    else client.end();
    this.timer = setTimeout(() => client.destroy(), LINGER_MS);
  }

  private socketClosed(): void {
    if (--this.open > 0 || this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.port.closed(this);
  }
}
