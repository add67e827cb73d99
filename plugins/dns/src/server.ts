import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { literalLookup, type HostPort, type Logger } from '@plexus/core';
import { DNS_DEFAULTS } from './config.js';
import type { Forwarder } from './forwarder.js';
import type { Query } from './query.js';
import type { Responder } from './responder.js';
import type { DnsMetrics } from './metrics.js';

/**
 * The sockets: UDP and TCP on each listen address. Everything we answer ourselves is answered
 * synchronously in the receive callback; only forwarding waits on the network.
 */

/** Limits of DNS over TCP: a silent or trickling client must not hold sockets or file descriptors. */
export const TCP_LIMITS = {
  /** RFC 7766 §6.2.3: a connection with no query in progress is closed after this long. */
  idleMs: DNS_DEFAULTS.tcp.idleTimeoutMs,
  /** A query must arrive whole within this long from its first byte (one byte every few seconds does not keep it open). */
  queryMs: DNS_DEFAULTS.tcp.queryTimeoutMs,
  /** Open TCP connections at most, all clients together. */
  maxConnections: DNS_DEFAULTS.tcp.maxConnections,
  /** Open TCP connections at most from one IP address. */
  maxPerIp: DNS_DEFAULTS.tcp.maxPerIp,
} as const;

export type TcpLimits = { [K in keyof typeof TCP_LIMITS]: number };

/** How often a refusal because of a limit is logged at most. */
const LIMIT_LOG_MS = 10_000;
/** Queries one TCP connection may have in flight (forwarded) at once. */
const TCP_MAX_INFLIGHT = 64;
/** A client sending frames faster than we answer them gets cut off past this much buffered input. */
const TCP_MAX_BUFFER = 256 * 1024;

export interface DnsServerOptions {
  listen: readonly HostPort[];
  responder: Responder;
  forwarder: Forwarder | undefined;
  log: Logger;
  /** Default `TCP_LIMITS`. */
  tcp?: Partial<TcpLimits>;
  /** Where answers are counted and timed; default: nowhere. */
  metrics?: DnsMetrics | undefined;
  /** SO_REUSEPORT, so several DNS threads take the same ports and the kernel spreads clients over them. */
  reusePort?: boolean;
  /** SO_RCVBUF of the UDP sockets (bytes); 0 or omitted: the system default. */
  udpReceiveBufferBytes?: number;
}

export class DnsServer {
  private readonly udp: UdpSocket[] = [];
  private readonly tcp: Server[] = [];
  private readonly conns = new Set<Socket>();
  private readonly perIp = new Map<string, number>();
  private readonly limits: TcpLimits;
  private lastLimitLog = 0;
  /** Connections refused or closed by a limit, for status. */
  readonly tcpRefused = { overall: 0, perIp: 0, slowQuery: 0 };
  /** The UDP receive buffer asked for and the one the kernel gave (bytes usable for data), for status. */
  udpReceiveBuffer: { requested: number; effective: number } | undefined;

  constructor(private readonly opts: DnsServerOptions) {
    this.limits = { ...TCP_LIMITS, ...opts.tcp };
  }

  /** The addresses actually bound (ports resolved when 0 was asked for), UDP first then TCP. */
  addresses(): { udp: HostPort[]; tcp: HostPort[] } {
    return {
      udp: this.udp.map((s) => ({ host: s.address().address, port: s.address().port })),
      tcp: this.tcp.map((s) => {
        const a = s.address();
        return typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : { host: '', port: 0 };
      }),
    };
  }

  async start(): Promise<void> {
    for (const addr of this.opts.listen) {
      // Port 0 (tests): UDP picks a free port and TCP takes the same number, which another
      // program may hold already; then both are tried again on another port.
      for (let attempt = 1; ; attempt++) {
        const u = createSocket({ type: isIPv6(addr.host) ? 'udp6' : 'udp4', ipv6Only: isIPv6(addr.host), lookup: literalLookup, reusePort: this.opts.reusePort === true });
        u.on('message', (msg, rinfo) => this.onDatagram(u, msg, rinfo.port, rinfo.address));
        // ICMP errors from clients that went away surface here; they must not end the server.
        u.on('error', (err) => this.opts.log.debug({ err }, 'udp socket error'));
        try {
          await bind(u, addr);
        } catch (err) {
          closeQuietly(u);
          throw listenError(err, addr, 'UDP');
        }
        this.sizeReceiveBuffer(u);
        const t = createServer({ noDelay: true }, (s) => this.onConnection(s));
        try {
          await listen(t, addr.host, addr.port === 0 ? u.address().port : addr.port, this.opts.reusePort === true);
        } catch (err) {
          u.close();
          if (addr.port === 0 && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 20) continue;
          throw listenError(err, addr, 'TCP');
        }
        t.on('error', (err) => this.opts.log.warn({ err }, 'tcp listener error'));
        this.udp.push(u);
        this.tcp.push(t);
        break;
      }
    }
  }

  /**
   * A burst of queries larger than the socket's buffer is dropped by the kernel before we see it
   * (with the Linux default of 208 KiB, about 270 queries). The kernel silently caps SO_RCVBUF at
   * net.core.rmem_max; Linux reports twice the usable size (the other half is its bookkeeping).
   */
  private sizeReceiveBuffer(u: UdpSocket): void {
    const requested = this.opts.udpReceiveBufferBytes ?? 0;
    if (requested === 0) return;
    try {
      u.setRecvBufferSize(requested);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message, requested }, 'dns: could not size the UDP receive buffer; the system default is used');
    }
    const effective = Math.floor(u.getRecvBufferSize() / 2);
    const first = this.udpReceiveBuffer === undefined;
    this.udpReceiveBuffer = { requested, effective };
    if (first && effective < requested) {
      this.opts.log.warn(
        { requested, effective },
        `dns: the kernel caps the UDP receive buffer at ${effective} bytes (net.core.rmem_max); bursts above it are dropped. Raise it with: sysctl -w net.core.rmem_max=${requested}`,
      );
    }
  }

  async stop(): Promise<void> {
    for (const s of this.conns) s.destroy();
    this.conns.clear();
    await Promise.all(this.udp.map((u) => new Promise<void>((resolve) => u.close(() => resolve()))));
    await Promise.all(this.tcp.map((t) => new Promise<void>((resolve) => (t.listening ? t.close(() => resolve()) : resolve()))));
    this.udp.length = 0;
    this.tcp.length = 0;
  }

  private onDatagram(sock: UdpSocket, msg: Buffer, port: number, address: string): void {
    try {
      const started = performance.now();
      const d = this.opts.responder.handle(msg, 'udp');
      if (d.kind === 'reply') {
        sock.send(d.bytes, port, address);
        this.opts.metrics?.observe(d.bytes, 'udp', started);
      } else if (d.kind === 'forward') {
        void this.forward(msg, d.query, 'udp', (b) => {
          sock.send(b, port, address);
          this.opts.metrics?.observe(b, 'udp', started);
        });
      }
    } catch (err) {
      // A bug here must cost one query, not the process.
      this.opts.log.error({ err }, 'failed to answer a datagram');
    }
  }

  private async forward(msg: Buffer, q: Query, transport: 'udp' | 'tcp', send: (b: Buffer) => void): Promise<void> {
    const { responder, forwarder } = this.opts;
    responder.counters.forwarded++;
    const reply = await forwarder!.forward(msg, transport).catch(() => undefined);
    if (reply === undefined) responder.counters.forwardFailures++;
    else responder.count(reply.readUInt16BE(2) & 0xf);
    send(reply ?? responder.servfail(msg, q, transport));
  }

  /** Logs that a limit bit, at most once per LIMIT_LOG_MS, with the counts so far. */
  private limitBit(what: keyof DnsServer['tcpRefused'], ip: string): void {
    this.tcpRefused[what]++;
    const now = Date.now();
    if (now - this.lastLimitLog < LIMIT_LOG_MS) return;
    this.lastLimitLog = now;
    this.opts.log.warn({ limit: what, ip, refused: { ...this.tcpRefused }, open: this.conns.size, limits: this.limits }, 'DNS over TCP: a connection limit bites');
  }

  private onConnection(s: Socket): void {
    const ip = s.remoteAddress ?? '';
    const fromIp = this.perIp.get(ip) ?? 0;
    if (this.conns.size >= this.limits.maxConnections) {
      this.limitBit('overall', ip);
      return void s.destroy();
    }
    if (fromIp >= this.limits.maxPerIp) {
      this.limitBit('perIp', ip);
      return void s.destroy();
    }
    this.conns.add(s);
    this.perIp.set(ip, fromIp + 1);
    // One timer: idle between queries, or the deadline of the query being received. Bytes that
    // do not complete a query do not push it back.
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number, onExpiry?: () => void): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        onExpiry?.();
        s.destroy();
      }, ms);
    };
    arm(this.limits.idleMs);
    s.on('close', () => {
      clearTimeout(timer);
      this.conns.delete(s);
      const n = (this.perIp.get(ip) ?? 1) - 1;
      if (n <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, n);
    });
    s.on('error', () => s.destroy());
    let buf: Buffer = Buffer.alloc(0);
    let inflight = 0;
    const write = (b: Buffer): void => {
      if (s.destroyed) return;
      const len = Buffer.allocUnsafe(2);
      len.writeUInt16BE(b.length);
      s.write(Buffer.concat([len, b]));
    };
    s.on('data', (chunk: Buffer) => {
      const started = buf.length > 0;
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (buf.length > TCP_MAX_BUFFER) return void s.destroy();
      const before = buf.length;
      // Several queries may arrive in one segment (RFC 7766 §6.2.1.1 pipelining): answer each.
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        try {
          const started = performance.now();
          const d = this.opts.responder.handle(msg, 'tcp');
          if (d.kind === 'reply') {
            write(d.bytes);
            this.opts.metrics?.observe(d.bytes, 'tcp', started);
          }
          else if (d.kind === 'drop') return void s.destroy();
          else if (inflight >= TCP_MAX_INFLIGHT) write(this.opts.responder.servfail(msg, d.query, 'tcp'));
          else {
            inflight++;
            // Copied: `buf` is reused for the next frames while this one is forwarded.
            void this.forward(Buffer.from(msg), d.query, 'tcp', (b) => {
              inflight--;
              write(b);
              this.opts.metrics?.observe(b, 'tcp', started);
            });
          }
        } catch (err) {
          this.opts.log.error({ err }, 'failed to answer a TCP query');
          return void s.destroy();
        }
      }
      if (buf.length === 0) arm(this.limits.idleMs);
      else if (buf.length < before || !started) arm(this.limits.queryMs, () => this.limitBit('slowQuery', ip));
    });
  }
}

function closeQuietly(u: UdpSocket): void {
  try {
    u.close();
  } catch {
    // already closed by the failed bind
  }
}

/** Says which address failed, and what to do about the usual causes. */
function listenError(err: unknown, addr: HostPort, proto: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const hint = code === 'EACCES' ? ' (ports below 1024 need root or CAP_NET_BIND_SERVICE)' : code === 'EADDRINUSE' ? ' (another DNS server, e.g. systemd-resolved, holds it)' : '';
  return new Error(`cannot listen on ${proto} ${addr.host}:${addr.port}: ${(err as Error).message}${hint}`, { cause: err });
}

function listen(t: Server, host: string, port: number, reusePort: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    t.once('error', reject);
    t.listen({ host, port, ipv6Only: isIPv6(host), reusePort }, () => {
      t.off('error', reject);
      resolve();
    });
  });
}

function bind(u: UdpSocket, addr: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    u.once('error', reject);
    u.bind(addr.port, addr.host, () => {
      u.off('error', reject);
      resolve();
    });
  });
}
