import type { Stream } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import { RpcClient } from '@plexus/core';
import { clientNode, header, pace, readFrames, send } from './wire.js';

/** Parameters of `slowFrames`. */
export interface SlowFramesArgs {
  target: string;
  from: string;
  durationMs: number;
  /** Connections held at once; each one that the node closes is replaced by a new one. */
  connections: number;
  streamsPerConnection: number;
  protocols: string[];
  /** Bytes of the frame sent at once, after its header. */
  prefixBytes: number;
  /** Declared body length; never reached. */
  declared: number;
  /** One more byte per stream this often. */
  dribbleMs: number;
}

/** What `slowFrames` observed. */
export interface SlowFramesResult {
  connectionsOpened: number;
  /** Connections that ended before the attack did: the node closed them. */
  connectionsClosedByNode: number;
  streamsOpened: number;
  /** Bytes handed to the streams (the node may have closed them before all were delivered). */
  bytesSent: number;
  /** Error codes the node answered with (id null), by code; best effort, the node closes right after. */
  codes: Record<string, number>;
}

/**
 * Unfinished frames: on each connection, many streams each send most of a large frame, then one
 * byte now and then, never finishing. Without a budget the node buffers all of it.
 */
export async function slowFrames(a: SlowFramesArgs): Promise<SlowFramesResult> {
  const r: SlowFramesResult = { connectionsOpened: 0, connectionsClosedByNode: 0, streamsOpened: 0, bytesSent: 0, codes: {} };
  const deadline = Date.now() + a.durationMs;
  const prefix = Buffer.concat([header(a.declared), Buffer.alloc(a.prefixBytes, 0x20)]);
  const slot = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const node = await clientNode(a.from);
      try {
        const conn = await node.dial(multiaddr(a.target), { signal: AbortSignal.timeout(5000) });
        r.connectionsOpened++;
        const opened = await Promise.all(
          Array.from({ length: a.streamsPerConnection }, (_, i) => conn.newStream(a.protocols[i % a.protocols.length]!).catch(() => undefined)),
        );
        const streams = opened.filter((s): s is Stream => s !== undefined);
        r.streamsOpened += streams.length;
        for (const s of streams) {
          void readFrames(s, (v: { error?: { code: string } }) => {
            if (v.error !== undefined) r.codes[v.error.code] = (r.codes[v.error.code] ?? 0) + 1;
          });
        }
        await Promise.all(
          streams.map(async (s) => {
            try {
              r.bytesSent += prefix.length;
              await send(s, prefix);
            } catch {
              // The node closed the stream or the connection: counted below.
            }
          }),
        );
        while (conn.status === 'open' && Date.now() < deadline) {
          await pace(a.dribbleMs);
          for (const s of streams) {
            if (s.writeStatus !== 'writable') continue;
            try {
              s.send(Buffer.from(' '));
              r.bytesSent++;
            } catch {
              // closed meanwhile
            }
          }
        }
        if (conn.status !== 'open') r.connectionsClosedByNode++;
      } catch {
        // A refused or failed dial: try again while the attack lasts.
        await pace(50);
      } finally {
        await Promise.resolve(node.stop()).catch(() => undefined);
      }
    }
  };
  await Promise.all(Array.from({ length: a.connections }, slot));
  return r;
}

/** Parameters of `peerFlood`. */
export interface PeerFloodArgs {
  target: string;
  from: string;
  /** Distinct peer ids (libp2p nodes), all from `from`. */
  peers: number;
  requestsPerPeer: number;
  protocol: string;
  method: string;
  params: unknown;
}

/** What `peerFlood` observed. */
export interface PeerFloodResult {
  /** Requests answered with anything but ERR_RATE_LIMITED or ERR_BUSY (a result or the method's own error). */
  served: number;
  limited: number;
  /** Refused with ERR_BUSY: past the limiter, but the node had rpc.maxPendingRequests in hand. */
  busy: number;
  failed: number;
  elapsedMs: number;
}

/** Many fresh peer ids from one address, each sending a burst of read requests at once. */
export async function peerFlood(a: PeerFloodArgs): Promise<PeerFloodResult> {
  const r: PeerFloodResult = { served: 0, limited: 0, busy: 0, failed: 0, elapsedMs: 0 };
  const nodes = await Promise.all(Array.from({ length: a.peers }, () => clientNode(a.from)));
  try {
    const clients = await Promise.all(nodes.map((libp2p) => RpcClient.connect(a.target, { libp2p, timeoutMs: 30_000 })));
    const started = Date.now();
    await Promise.all(
      clients.map(async (c) => {
        const settled = await Promise.allSettled(Array.from({ length: a.requestsPerPeer }, () => c.call(a.protocol, a.method, a.params)));
        for (const s of settled) {
          const code = s.status === 'rejected' ? (s.reason as { code?: string }).code : undefined;
          if (code === 'ERR_RATE_LIMITED') r.limited++;
          else if (code === 'ERR_BUSY') r.busy++;
          else if (s.status === 'fulfilled' || (code !== undefined && code !== 'ERR_CONNECT' && code !== 'ERR_TIMEOUT')) r.served++;
          else r.failed++;
        }
      }),
    );
    r.elapsedMs = Date.now() - started;
    await Promise.all(clients.map((c) => c.close()));
  } finally {
    await Promise.all(nodes.map((n) => Promise.resolve(n.stop()).catch(() => undefined)));
  }
  return r;
}
