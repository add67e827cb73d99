import { createSocket, type Socket } from 'node:dgram';
import { connect, isIPv6 } from 'node:net';
import { literalLookup, type HostPort } from '@plexus/core';

/**
 * Forwards queries for names outside our zones to upstream resolvers, like CoreDNS's
 * `forward . <servers>`: UDP first, the next upstream on timeout, TCP when a TCP client's
 * answer came back truncated. The query goes out unchanged except for its id, so the upstream
 * sees the client's own EDNS size and flags.
 */

interface Pending {
  resolve: (reply: Buffer | undefined) => void;
  upstream: HostPort;
  timer: NodeJS.Timeout;
}

export class Forwarder {
  private readonly sockets = new Map<4 | 6, Socket>();
  private readonly pending = new Map<number, Pending>();
  private nextId = Math.floor(Math.random() * 0x10000);
  private closed = false;

  constructor(
    private readonly upstreams: readonly HostPort[],
    private readonly timeoutMs: number,
  ) {}

  /** The upstream's reply with the client's id restored, or undefined when every upstream failed. */
  async forward(msg: Buffer, transport: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const clientId = msg.readUInt16BE(0);
    for (const upstream of this.upstreams) {
      if (this.closed) return undefined;
      let reply = await this.viaUdp(msg, upstream);
      // TC=1 and the client can take a big answer: fetch it whole over TCP.
      if (reply !== undefined && transport === 'tcp' && (reply.readUInt16BE(2) & 0x0200) !== 0) reply = await this.viaTcp(msg, upstream);
      if (reply !== undefined) {
        reply.writeUInt16BE(clientId, 0);
        return reply;
      }
    }
    return undefined;
  }

  private socket(family: 4 | 6): Socket {
    let s = this.sockets.get(family);
    if (s === undefined) {
      s = createSocket({ type: family === 4 ? 'udp4' : 'udp6', lookup: literalLookup });
      s.on('message', (m, rinfo) => this.onMessage(m, rinfo.address, rinfo.port));
      // A send error (no route, ICMP unreachable) is handled by the timeout of that query.
      s.on('error', () => undefined);
      s.unref();
      this.sockets.set(family, s);
    }
    return s;
  }

  private onMessage(m: Buffer, address: string, port: number): void {
    if (m.length < 12) return;
    const p = this.pending.get(m.readUInt16BE(0));
    // Only the upstream we asked may answer; anything else is spoofing or a late answer.
    if (p === undefined || p.upstream.port !== port || normalizeIp(p.upstream.host) !== normalizeIp(address)) return;
    this.pending.delete(m.readUInt16BE(0));
    clearTimeout(p.timer);
    p.resolve(m);
  }

  private allocateId(): number | undefined {
    for (let i = 0; i < 0x10000; i++) {
      this.nextId = (this.nextId + 1) & 0xffff;
      if (!this.pending.has(this.nextId)) return this.nextId;
    }
    return undefined;
  }

  private viaUdp(msg: Buffer, upstream: HostPort): Promise<Buffer | undefined> {
    const id = this.allocateId();
    if (id === undefined) return Promise.resolve(undefined);
    const out = Buffer.from(msg);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, this.timeoutMs);
      this.pending.set(id, { resolve, upstream, timer });
      this.socket(isIPv6(upstream.host) ? 6 : 4).send(out, upstream.port, upstream.host, (err) => {
        if (err !== null && this.pending.get(id)?.timer === timer) {
          this.pending.delete(id);
          clearTimeout(timer);
          resolve(undefined);
        }
      });
    });
  }

  private viaTcp(msg: Buffer, upstream: HostPort): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const sock = connect({ host: upstream.host, port: upstream.port });
      let buf = Buffer.alloc(0);
      const done = (reply: Buffer | undefined): void => {
        clearTimeout(timer);
        sock.destroy();
        resolve(reply);
      };
      const timer = setTimeout(() => done(undefined), this.timeoutMs);
      sock.on('error', () => done(undefined));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([len, msg]));
      });
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      });
      sock.on('end', () => done(undefined));
    });
  }

  /** Fails what is in flight and closes the sockets. */
  close(): void {
    this.closed = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.resolve(undefined);
      this.pending.delete(id);
    }
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}

/** `::ffff:1.2.3.4` and `1.2.3.4` are the same sender. */
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip.toLowerCase();
}
