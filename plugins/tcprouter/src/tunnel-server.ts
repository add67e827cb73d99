import { createServer, type Server, type Socket } from 'node:net';
import { PlexusError, YamuxGoAwayCode, YamuxSession, formatHostPort, parseTunnelHandshake, type HostPort, type Logger, type YamuxStream } from '@plexus/core';
import type { TunnelLimits } from './config.js';
import { TCPROUTER_ERRORS } from './errors.js';
import { ConnectionGate } from './limits.js';
import { listenOn } from './port-server.js';
import type { RouteTable } from './routes.js';

/**
 * The clients port (COMPAT §3): tunnel clients dial in, speak yamux v0 as its client, and on
 * stream 1 send `0x11 0x11 | len | secret`. The router then opens one stream per public
 * connection routed to that secret and relays raw bytes through it.
 *
 * Unlike the original tcprouter: a secret must be the clientsecret of a store route (else the
 * session is closed); several sessions with one secret are kept (one per tunnel client process
 * and router, or more for spread): new connections go round-robin to the live ones, and when one
 * dies the next connection takes another; dead sessions are found by ping and dropped; a secret
 * whose last route is removed loses its sessions; streams per session are bounded.
 */

/** What happened on the clients port (cumulative since start). */
export interface TunnelCounters {
  /** TCP connections accepted on the clients port (before any check). */
  accepted: number;
  /** Sessions whose handshake named a routed secret. */
  sessionsUp: number;
  rejected: {
    /** The secret is no store route's clientsecret. */
    unknownSecret: number;
    /** Stream 1 did not carry 0x11 0x11 + length + secret, or yamux itself was broken before it. */
    badHandshake: number;
    /** No handshake within handshakeTimeoutMs. */
    handshakeTimeout: number;
    /** The secret already had maxSessionsPerSecret sessions. */
    tooManyForSecret: number;
    /** Dropped unfinished to make room for a newer connection (maxHandshaking). */
    evictedHandshakes: number;
    /** Refused at accept: maxSessions in total / maxPerIp from one host. */
    maxSessions: number;
    maxPerIp: number;
  };
  /** Sessions ended because a ping went unanswered (the client or its link died). */
  pingTimeouts: number;
  /** Sessions closed because no store route has their secret any more. */
  closedByRouteChange: number;
  /** Streams opened for public connections. */
  streamsOpened: number;
}

/** One secret's live sessions, used round-robin. */
class SessionPool {
  readonly sessions: YamuxSession[] = [];
  private next = 0;
  /** Payload bytes of sessions already gone. */
  readonly closedBytes = { toClient: 0, fromClient: 0 };

  constructor(readonly digest: string) {}

  /** The next session that can open a stream, round-robin; undefined when none can. */
  pick(): YamuxSession | undefined {
    const n = this.sessions.length;
    for (let i = 0; i < n; i++) {
      const s = this.sessions[(this.next + i) % n]!;
      if (s.canOpen) {
        this.next = (this.next + i + 1) % n;
        return s;
      }
    }
    return undefined;
  }

  remove(s: YamuxSession): void {
    const i = this.sessions.indexOf(s);
    if (i < 0) return;
    this.sessions.splice(i, 1);
    this.closedBytes.toClient += s.bytesOut;
    this.closedBytes.fromClient += s.bytesIn;
  }
}

/** Sessions by secret digest, the listener and its admission. */
export class TunnelServer {
  readonly gate: ConnectionGate;
  readonly counters: TunnelCounters = {
    accepted: 0,
    sessionsUp: 0,
    rejected: { unknownSecret: 0, badHandshake: 0, handshakeTimeout: 0, tooManyForSecret: 0, evictedHandshakes: 0, maxSessions: 0, maxPerIp: 0 },
    pingTimeouts: 0,
    closedByRouteChange: 0,
    streamsOpened: 0,
  };
  private server: Server | undefined;
  private readonly pools = new Map<string, SessionPool>();
  /** Every session on the port, handshaken or not. */
  private readonly all = new Set<YamuxSession>();
  /** Sessions still waiting for their handshake, oldest first. */
  private readonly handshaking = new Set<YamuxSession>();

  constructor(
    private readonly limits: TunnelLimits,
    private readonly table: RouteTable,
    private readonly log: Logger,
  ) {
    this.gate = new ConnectionGate({ maxConnections: limits.maxSessions, maxPerIp: limits.maxPerIp }, 'clients', log);
  }

  address(): HostPort | undefined {
    const a = this.server?.address();
    return typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : undefined;
  }

  /** Listens on `addr`. @throws ERR_TCPROUTER_LISTEN naming the address. */
  async listen(addr: HostPort): Promise<void> {
    this.server = await listenOn(createServer({ noDelay: true }, (s) => this.onConnection(s)), addr, 'clients', this.log);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.all) s.destroy();
    if (server?.listening === true) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * A stream to a tunnel client holding `secret`, for one public connection; undefined when no
   * session of that secret can take one (none up, or all at maxStreamsPerSession).
   */
  open(secret: string): YamuxStream | undefined {
    const digest = this.table.tunnelSecret(Buffer.from(secret, 'utf8'))?.digest;
    const session = digest === undefined ? undefined : this.pools.get(digest)?.pick();
    if (session === undefined) return undefined;
    this.counters.streamsOpened++;
    return session.open();
  }

  /** After a route change: sessions whose secret no store route has any more are closed. */
  dropOrphans(): void {
    for (const [digest, pool] of this.pools) {
      if (this.table.hasSecretDigest(digest)) continue;
      this.pools.delete(digest);
      for (const s of [...pool.sessions]) {
        this.counters.closedByRouteChange++;
        s.close();
      }
    }
  }

  status(): Record<string, unknown> {
    let streams = 0;
    let sessions = 0;
    const secrets = [...this.pools.values()].map((p) => {
      const n = p.sessions.reduce((a, s) => a + s.size, 0);
      streams += n;
      sessions += p.sessions.length;
      const names = this.table.namesOfSecret(p.digest);
      return {
        // A digest prefix identifies the secret in logs and status without revealing it.
        id: p.digest.slice(0, 12),
        routes: names.slice(0, 20),
        routeCount: names.length,
        sessions: p.sessions.length,
        streams: n,
        clients: p.sessions.map((s) => `${s.socket.remoteAddress ?? '?'}:${s.socket.remotePort ?? '?'}`),
        rttMs: p.sessions.map((s) => (s.rtt === undefined ? null : Math.round(s.rtt * 100) / 100)),
        bytes: {
          toClient: p.closedBytes.toClient + p.sessions.reduce((a, s) => a + s.bytesOut, 0),
          fromClient: p.closedBytes.fromClient + p.sessions.reduce((a, s) => a + s.bytesIn, 0),
        },
      };
    });
    return {
      listen: fmt(this.address()),
      sessions,
      handshaking: this.all.size - sessions,
      streams,
      secrets,
      counters: structuredClone(this.counters),
    };
  }

  private onConnection(sock: Socket): void {
    this.counters.accepted++;
    const ip = sock.remoteAddress;
    if (ip === undefined || !this.gate.admit(ip)) {
      const { maxConnections, maxPerIp } = this.gate.counters.limits;
      this.counters.rejected.maxSessions = maxConnections;
      this.counters.rejected.maxPerIp = maxPerIp;
      sock.destroy();
      return;
    }
    sock.setKeepAlive(true, 30_000);
    const lim = this.limits;
    let pool: SessionPool | undefined;
    let handshake: YamuxStream | undefined;
    const session = new YamuxSession(sock, {
      client: false,
      maxStreams: lim.maxStreamsPerSession,
      maxStreamWindow: lim.maxStreamWindowBytes,
      pingIntervalMs: lim.pingIntervalMs,
      pingTimeoutMs: lim.pingTimeoutMs,
      onStream: (st) => {
        // Only the handshake stream is expected from a client; anything after it is refused.
        if (handshake !== undefined || pool !== undefined) return void st.destroy();
        handshake = st;
        this.readHandshake(st, ip, session, (p) => (pool = p));
      },
    });
    this.all.add(session);
    if (this.handshaking.size >= lim.maxHandshaking) {
      const oldest = this.handshaking.values().next().value!;
      this.handshaking.delete(oldest);
      this.counters.rejected.evictedHandshakes++;
      this.gate.warn(TCPROUTER_ERRORS.ERR_TCPROUTER_TUNNEL_LIMIT, { ip, maxHandshaking: lim.maxHandshaking, evicted: this.counters.rejected.evictedHandshakes }, 'tcprouter: more unfinished tunnel handshakes than maxHandshaking; the oldest are dropped');
      oldest.destroy();
    }
    this.handshaking.add(session);
    const timer = setTimeout(() => {
      if (pool !== undefined) return;
      this.counters.rejected.handshakeTimeout++;
      this.gate.warn(TCPROUTER_ERRORS.ERR_TCPROUTER_TUNNEL_HANDSHAKE, { ip, why: `no handshake within ${lim.handshakeTimeoutMs} ms` }, 'tcprouter: a tunnel client sent no handshake');
      session.destroy();
    }, lim.handshakeTimeoutMs);
    session.once('close', (err) => {
      clearTimeout(timer);
      this.all.delete(session);
      this.handshaking.delete(session);
      this.gate.release(ip);
      if ((err as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT') this.counters.pingTimeouts++;
      if (pool === undefined) {
        if (err?.name === 'YamuxProtocolError') this.counters.rejected.badHandshake++;
        return;
      }
      pool.remove(session);
      if (pool.sessions.length === 0 && this.pools.get(pool.digest) === pool) this.pools.delete(pool.digest);
      this.log.info({ ip, secret: pool.digest.slice(0, 12), sessionsLeft: pool.sessions.length, why: err?.message ?? 'closed' }, 'tunnel session down');
    });
  }

  /** Reads `0x11 0x11 | len | secret` from stream 1, then admits the session into its secret's pool. */
  private readHandshake(st: YamuxStream, ip: string, session: YamuxSession, admitted: (p: SessionPool) => void): void {
    let buf: Buffer = Buffer.alloc(0);
    const bad = (why: string): void => {
      this.counters.rejected.badHandshake++;
      this.gate.warn(TCPROUTER_ERRORS.ERR_TCPROUTER_TUNNEL_HANDSHAKE, { ip, why }, 'tcprouter: a tunnel client sent a bad handshake');
      session.close(YamuxGoAwayCode.ProtocolError);
    };
    st.on('error', () => undefined);
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = parseTunnelHandshake(buf);
      if (r.kind === 'incomplete') return;
      st.off('data', onData);
      st.off('end', onEnd);
      st.resume(); // whatever else comes on stream 1 (nothing, normally) is dropped
      st.end(); // our half closed too: stream 1 stops counting against maxStreamsPerSession
      if (r.kind === 'invalid') return bad(r.reason);
      const match = this.table.tunnelSecret(r.secret);
      if (match === undefined) {
        this.counters.rejected.unknownSecret++;
        this.gate.warn(TCPROUTER_ERRORS.ERR_TCPROUTER_TUNNEL_SECRET, { ip }, 'tcprouter: a tunnel client presented a secret no route has');
        return session.close(YamuxGoAwayCode.ProtocolError);
      }
      let pool = this.pools.get(match.digest);
      if (pool === undefined) this.pools.set(match.digest, (pool = new SessionPool(match.digest)));
      if (pool.sessions.length >= this.limits.maxSessionsPerSecret) {
        this.counters.rejected.tooManyForSecret++;
        this.gate.warn(TCPROUTER_ERRORS.ERR_TCPROUTER_TUNNEL_LIMIT, { ip, secret: match.digest.slice(0, 12), maxSessionsPerSecret: this.limits.maxSessionsPerSecret }, 'tcprouter: a secret has its maximum of tunnel sessions');
        return session.close(YamuxGoAwayCode.InternalError);
      }
      pool.sessions.push(session);
      this.handshaking.delete(session);
      session.ping(); // an RTT for the status at once, not after the first ping interval
      admitted(pool);
      this.counters.sessionsUp++;
      this.log.info({ ip, secret: match.digest.slice(0, 12), routes: [...match.names].slice(0, 5), sessions: pool.sessions.length }, 'tunnel session up');
    };
    const onEnd = (): void => bad('stream 1 ended before the whole handshake');
    st.on('data', onData);
    st.once('end', onEnd);
  }
}

const fmt = (a: HostPort | undefined): string | undefined => (a === undefined ? undefined : formatHostPort(a));
