import { BlockList, isIPv4 } from 'node:net';
import type { Libp2p } from 'libp2p';
import type { Connection, ConnectionGater, MultiaddrConnection } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { type HostKey, hostKeyOf, ipOf } from './host-key.js';

/** The per-host limits the guard adds to libp2p's own (global pending cap, per-IP rate). */
export interface ConnectionGuardOptions {
  /** Open plus handshaking inbound connections per host key. */
  maxConnectionsPerHost: number;
  /** Handshaking inbound connections per host key while under pressure. */
  maxPendingPerHost: number;
  /** libp2p's global cap on handshaking connections; half of it is "under pressure". */
  maxPendingInbound: number;
  handshakeTimeoutMs: number;
  /** Handshake deadline while at least half of `maxPendingInbound` are pending. */
  handshakeTimeoutUnderPressureMs: number;
  /** Inbound connections without an application stream this long are closed; 0 never. */
  idleTimeoutMs: number;
  /** `/ip4/…(/ipcidr/n)` networks exempt from every limit, as in libp2p's allow list. */
  allow: readonly string[];
}

/** Counters `plexus status` shows under `p2p`. */
export interface ConnectionGuardStats {
  refusedPerHost: number;
  refusedPendingPerHost: number;
  handshakeTimeouts: number;
  idleClosed: number;
}

interface Tracked {
  key: HostKey;
  state: 'pending' | 'open' | 'closed';
  since: number;
  maConn: MultiaddrConnection;
}

/** Streams libp2p opens by itself (identify, ping): they do not make a connection busy. */
const SYSTEM_PROTOCOL = /^\/ipfs\/(id|ping)\//;
const SWEEP_MS = 250;

/**
 * Per-host connection limits, as a libp2p connection gater. libp2p caps handshakes globally and
 * new connections per IP per second, but nothing stops one host from holding most of the
 * `maxConnections` or `maxPendingInbound` slots by opening them slowly. The guard counts, per IPv4
 * address or IPv6 /64, connections from the moment libp2p accepts the socket until it closes,
 * refuses a host above its share, and closes inbound connections left without a stream. Under
 * pressure (half the handshake slots taken) it also caps each host's handshakes and cuts
 * handshakes short: silent sockets otherwise hold a slot for the full timeout.
 */
export class ConnectionGuard {
  readonly stats: ConnectionGuardStats = { refusedPerHost: 0, refusedPendingPerHost: 0, handshakeTimeouts: 0, idleClosed: 0 };
  private readonly hosts = new Map<HostKey, { pending: number; open: number }>();
  private readonly pending = new Set<Tracked>();
  private readonly tracked = new WeakMap<MultiaddrConnection, Tracked>();
  private readonly lastBusy = new WeakMap<Connection, number>();
  private readonly allowed = new BlockList();
  private timer: NodeJS.Timeout | undefined;
  private lastIdleSweep = 0;
  private libp2p: Libp2p | undefined;

  constructor(private readonly options: ConnectionGuardOptions) {
    for (const entry of options.allow) {
      const parts = multiaddr(entry).getComponents();
      const ip = parts[0]?.value ?? '';
      const type = isIPv4(ip) ? 'ipv4' : 'ipv6';
      const cidr = parts.find((c) => c.name === 'ipcidr')?.value;
      this.allowed.addSubnet(ip, cidr === undefined ? (type === 'ipv4' ? 32 : 128) : Number(cidr), type);
    }
  }

  /** The gater to hand to libp2p; it only ever refuses inbound connections. */
  gater(): ConnectionGater {
    return {
      denyInboundConnection: (maConn) => this.admit(maConn),
      denyInboundUpgradedConnection: (_peer, maConn) => {
        this.upgraded(maConn);
        return false;
      },
    };
  }

  /** Starts deadline and idle sweeps over `libp2p`'s connections. */
  attach(libp2p: Libp2p): void {
    this.libp2p = libp2p;
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => this.sweep(Date.now()), SWEEP_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.libp2p = undefined;
  }

  /** Handshakes in progress that the guard counts (allow-listed ones are not). */
  get pendingCount(): number {
    return this.pending.size;
  }

  private isAllowed(ip: string | undefined): boolean {
    if (ip === undefined) return false;
    return this.allowed.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
  }

  /** true = refuse. Called by libp2p right after its own accept checks, before any handshake byte. */
  private admit(maConn: MultiaddrConnection): boolean {
    if (this.isAllowed(ipOf(maConn.remoteAddr))) return false;
    const key = hostKeyOf(maConn.remoteAddr);
    const host = this.hosts.get(key) ?? { pending: 0, open: 0 };
    if (host.pending + host.open >= this.options.maxConnectionsPerHost) {
      this.stats.refusedPerHost++;
      return true;
    }
    // A calm node lets a host burst up to its connection share (many CLI runs behind one NAT);
    // once handshake slots run short, each host gets a few, so silent sockets cannot take them all.
    if (this.underPressure() && host.pending >= this.options.maxPendingPerHost) {
      this.stats.refusedPendingPerHost++;
      return true;
    }
    host.pending++;
    this.hosts.set(key, host);
    const t: Tracked = { key, state: 'pending', since: Date.now(), maConn };
    this.pending.add(t);
    this.tracked.set(maConn, t);
    maConn.addEventListener('close', () => this.closed(t), { once: true });
    // Closed before the listener was added: no event will come.
    if (maConn.status !== 'open') this.closed(t);
    return false;
  }

  private upgraded(maConn: MultiaddrConnection): void {
    const t = this.tracked.get(maConn);
    if (t === undefined || t.state !== 'pending') return;
    const host = this.hosts.get(t.key)!;
    host.pending--;
    host.open++;
    t.state = 'open';
    this.pending.delete(t);
  }

  private closed(t: Tracked): void {
    if (t.state === 'closed') return;
    const host = this.hosts.get(t.key)!;
    if (t.state === 'pending') host.pending--;
    else host.open--;
    t.state = 'closed';
    this.pending.delete(t);
    if (host.pending === 0 && host.open === 0) this.hosts.delete(t.key);
  }

  /** At least half of the handshake slots are taken. */
  private underPressure(): boolean {
    return this.pending.size * 2 >= this.options.maxPendingInbound;
  }

  private sweep(now: number): void {
    const o = this.options;
    const deadline = this.underPressure() ? Math.min(o.handshakeTimeoutMs, o.handshakeTimeoutUnderPressureMs) : o.handshakeTimeoutMs;
    for (const t of this.pending) {
      if (now - t.since < deadline) continue;
      this.stats.handshakeTimeouts++;
      t.maConn.abort(new Error(`handshake not finished within ${deadline} ms`));
      this.closed(t);
    }
    if (o.idleTimeoutMs > 0 && this.libp2p !== undefined && now - this.lastIdleSweep >= Math.min(5000, Math.max(SWEEP_MS, o.idleTimeoutMs / 4))) {
      this.lastIdleSweep = now;
      this.closeIdle(this.libp2p.getConnections(), now);
    }
  }

  private closeIdle(connections: Connection[], now: number): void {
    for (const conn of connections) {
      if (conn.direction !== 'inbound' || conn.status !== 'open' || this.isAllowed(ipOf(conn.remoteAddr))) continue;
      // A stream still negotiating ('' protocol) does not count: libp2p times those out itself.
      if (conn.streams.some((s) => s.protocol !== '' && s.protocol !== undefined && !SYSTEM_PROTOCOL.test(s.protocol))) {
        this.lastBusy.set(conn, now);
        continue;
      }
      if (now - (this.lastBusy.get(conn) ?? conn.timeline.open) < this.options.idleTimeoutMs) continue;
      this.stats.idleClosed++;
      void conn.close().catch((err: Error) => conn.abort(err));
    }
  }
}
