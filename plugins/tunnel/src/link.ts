import { connect, type Socket } from 'node:net';
import { YamuxSession, encodeTunnelHandshake, formatHostPort, relay, type HostPort, type Logger, type YamuxStream } from '@plexus/core';
import type { TunnelConfig } from './config.js';
import { TUNNEL_ERRORS } from './errors.js';

/**
 * One router: dial its clients port, become the yamux client, send the handshake on stream 1 and
 * close it, then serve every stream the router opens: peek the first byte (0x16: TLS → localTls,
 * else local), connect there, replay the byte(s) and relay both ways. When the session ends it
 * redials after a capped exponential backoff with jitter.
 */

export type LinkState = 'connecting' | 'up' | 'waiting' | 'stopped';

/** A session that lived this long was healthy: the backoff starts over after it. */
const STABLE_MS = 10_000;
/** A session the router ends this soon after the handshake, having sent nothing, was most likely refused. */
const REFUSED_WITHIN_MS = 2_000;
/** Warnings of one kind are logged at most this often per link. */
const WARN_EVERY_MS = 10_000;

export interface LinkTargets {
  local: HostPort;
  localTls: HostPort | undefined;
}

export class TunnelLink {
  state: LinkState = 'connecting';
  /** Times the link dialled again after its first attempt. */
  reconnects = 0;
  /** Failed attempts in a row (the backoff exponent). */
  private failures = 0;
  private upAt = 0;
  private stateSince = Date.now();
  lastError: string | undefined;
  private session: YamuxSession | undefined;
  private socket: Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private streamsThisSession = 0;
  streamsTotal = 0;
  localErrors = 0;
  private readonly closedBytes = { fromRouter: 0, toRouter: 0 };
  private readonly lastWarn = new Map<string, number>();
  private readonly live = new Set<Socket>();

  constructor(
    readonly remote: HostPort,
    private readonly secret: Buffer,
    private readonly targets: LinkTargets,
    private readonly cfg: TunnelConfig,
    private readonly log: Logger,
  ) {}

  get name(): string {
    return formatHostPort(this.remote);
  }

  start(): void {
    this.dial();
  }

  /** Ends the session and every tunnelled connection; no more redials. */
  stop(): void {
    this.setState('stopped');
    clearTimeout(this.timer);
    this.session?.close();
    this.socket?.destroy();
    for (const s of this.live) s.destroy();
  }

  status(): Record<string, unknown> {
    const s = this.session;
    return {
      remote: this.name,
      state: this.state,
      since: new Date(this.stateSince).toISOString(),
      reconnects: this.reconnects,
      failuresInARow: this.failures,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      streams: s?.size ?? 0,
      streamsTotal: this.streamsTotal,
      localErrors: this.localErrors,
      rttMs: s?.rtt === undefined ? null : Math.round(s.rtt * 100) / 100,
      bytes: { fromRouter: this.closedBytes.fromRouter + (s?.bytesIn ?? 0), toRouter: this.closedBytes.toRouter + (s?.bytesOut ?? 0) },
    };
  }

  private setState(s: LinkState): void {
    if (this.state === s) return;
    this.state = s;
    this.stateSince = Date.now();
  }

  private dial(): void {
    if (this.state === 'stopped') return;
    this.setState('connecting');
    const sock = connect({ host: this.remote.host, port: this.remote.port, noDelay: true });
    this.socket = sock;
    let connected = false;
    const timer = setTimeout(() => sock.destroy(Object.assign(new Error(`no answer within ${this.cfg.connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), this.cfg.connectTimeoutMs);
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected) this.lastError = err.code ?? err.message;
    });
    sock.once('close', () => {
      clearTimeout(timer);
      if (!connected) this.retry();
    });
    sock.once('connect', () => {
      connected = true;
      clearTimeout(timer);
      sock.setKeepAlive(true, 30_000);
      this.open(sock);
    });
  }

  private open(sock: Socket): void {
    const session = new YamuxSession(sock, {
      client: true,
      maxStreams: this.cfg.maxStreams,
      maxStreamWindow: this.cfg.maxStreamWindowBytes,
      pingIntervalMs: this.cfg.pingIntervalMs,
      pingTimeoutMs: this.cfg.pingTimeoutMs,
      onStream: (st) => this.serve(st),
    });
    this.session = session;
    this.streamsThisSession = 0;
    // Stream 1: the handshake in one DATA frame, then FIN. The router answers nothing.
    const hs = session.open();
    hs.on('error', () => undefined);
    hs.resume();
    hs.end(encodeTunnelHandshake(this.secret));
    session.ping(); // an RTT for the status at once, not after the first ping interval
    this.upAt = Date.now();
    this.setState('up');
    // lastError stays until the session proves itself (a stream): a router that refuses the
    // secret closes right after this, and the reason must still be readable then.
    this.log.info({ router: this.name, reconnects: this.reconnects }, 'tunnel up');
    session.once('close', (err) => {
      this.closedBytes.fromRouter += session.bytesIn;
      this.closedBytes.toRouter += session.bytesOut;
      this.session = undefined;
      if (this.state === 'stopped') return;
      const lived = Date.now() - this.upAt;
      if (lived >= STABLE_MS) this.failures = 0;
      const refused = lived < REFUSED_WITHIN_MS && this.streamsThisSession === 0;
      this.lastError = refused ? 'the router closed the session right after the handshake (is a route there exposed with this secret?)' : (err?.message ?? 'the router closed the session');
      this.warn(TUNNEL_ERRORS.ERR_TUNNEL_ROUTER, { router: this.name, why: this.lastError, livedMs: lived }, refused ? 'tunnel refused by the router' : 'tunnel down');
      this.retry();
    });
  }

  private retry(): void {
    if (this.state === 'stopped') return;
    this.failures++;
    const ceiling = Math.min(this.cfg.backoff.maxMs, this.cfg.backoff.initialMs * 2 ** Math.min(this.failures - 1, 30));
    // "Equal jitter": half the delay fixed, half random, so clients of a restarted router spread out.
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
    this.setState('waiting');
    if (this.failures > 1 && this.lastError !== undefined) this.warn(TUNNEL_ERRORS.ERR_TUNNEL_ROUTER, { router: this.name, why: this.lastError, failuresInARow: this.failures, retryInMs: delay }, 'tunnel: router unreachable, retrying');
    this.timer = setTimeout(() => {
      this.reconnects++;
      this.dial();
    }, delay);
  }

  /** One tunnelled connection: pick the local service by the first byte, replay it, relay. */
  private serve(st: YamuxStream): void {
    this.lastError = undefined;
    this.streamsThisSession++;
    this.streamsTotal++;
    st.on('error', () => undefined);
    st.once('end', () => {
      if (!chosen) st.destroy(); // the visitor left before sending anything
    });
    let chosen = false;
    st.once('data', (first: Buffer) => {
      chosen = true;
      st.pause();
      const tls = first[0] === 0x16 && this.targets.localTls !== undefined;
      const target = tls ? this.targets.localTls! : this.targets.local;
      const sock = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
      this.live.add(sock);
      sock.once('error', (err: NodeJS.ErrnoException) => {
        if (sock.connecting || sock.bytesRead === 0) {
          this.localErrors++;
          this.warn(TUNNEL_ERRORS.ERR_TUNNEL_LOCAL, { local: formatHostPort(target), why: err.code ?? err.message }, 'tunnel: the local service failed a connection');
        }
      });
      sock.write(first);
      relay(st, sock, () => this.live.delete(sock));
    });
  }

  private warn(code: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const key = `${code}:${msg}`;
    if (now - (this.lastWarn.get(key) ?? 0) < WARN_EVERY_MS) return;
    this.lastWarn.set(key, now);
    this.log.warn({ code, ...fields }, msg);
  }
}
