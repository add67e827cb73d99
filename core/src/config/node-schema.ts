import { hostname } from 'node:os';
import { z } from 'zod';
import { multiaddr } from '@multiformats/multiaddr';

function isMultiaddr(s: string): boolean {
  try {
    multiaddr(s);
    return true;
  } catch {
    return false;
  }
}

const multiaddrString = z.string().refine(isMultiaddr, { message: 'expected a multiaddr such as /ip4/0.0.0.0/tcp/4001' });

const MiB = 1024 * 1024;

/** `node.rpc`: limits every RPC server of this node applies. README "Security model" explains each. */
export const RpcConfigSchema = z
  .strictObject({
    /** Largest accepted request frame in bytes. Default 1 MiB. */
    maxFrameBytes: z.number().int().min(1024).max(64 * MiB).default(MiB),
    /** Accepted age of a signed request (server clock - request ts), in ms. Default 30 s. */
    maxClockSkewMs: z.number().int().min(1000).max(3_600_000).default(30_000),
    /**
     * Accepted lead of a signed request (request ts - server clock), in ms. Small, because a request
     * signed ahead of time stays replayable for that long. Default 5 s; at most `maxClockSkewMs`.
     */
    maxForwardSkewMs: z.number().int().min(0).max(3_600_000).default(5_000),
    /** Requests handled at once per stream; further frames wait (the stream is paused). Default 256. */
    maxInFlightPerStream: z.number().int().min(1).max(10_000).default(256),
    /**
     * Requests the node answers at once, all peers together; beyond it a request is refused at once
     * with ERR_BUSY (before its signature is checked), so that overload costs latency up to a
     * bound instead of every request timing out. One address (IPv4, IPv6 /64) may hold half of
     * them, so a flood from one place leaves room for others. Default 512, twice
     * `maxInFlightPerStream`, so one pipelining client meets back-pressure, not refusals. On a
     * 2-core explorer offered twice what it can sign and store, it kept answering 506–723/s at
     * p99 0.8–2.7 s in 4 runs (before: 1 and 87/s in 2 of 3 runs).
     */
    maxPendingRequests: z.number().int().min(1).max(1_000_000).default(512),
    /** Inbound streams of one RPC protocol on one connection (a client needs one). Default 16. */
    maxStreamsPerProtocol: z.number().int().min(1).max(1024).default(16),
    /** Bytes of unfinished frames one connection may hold; above it the connection is closed. Default 2 MiB. */
    maxBufferedBytesPerConnection: z.number().int().min(2048).max(1024 * MiB).default(2 * MiB),
    /** Bytes of unfinished frames all connections may hold; above it the largest holder is closed. Default 32 MiB. */
    maxBufferedBytes: z.number().int().min(2048).max(4096 * MiB).default(32 * MiB),
    /** A frame must be complete this long after its first byte, else its connection is closed. Default 10 s. */
    frameTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
    /**
     * Threads that verify request signatures beside the event loop (0: on the event loop).
     * Default 0: measured here a thread gained 1.03x throughput and cost 17 MB; see rpc/verify-pool.ts.
     */
    verifyThreads: z.number().int().min(0).max(16).optional(),
    /**
     * Token buckets; perSecond 0 disables one. Per peer id: 2000/s, burst 4000. Per remote address
     * (IPv4 address or IPv6 /64), since peer ids are free: 2000/s, burst 4000.
     */
    rateLimit: z
      .strictObject({
        perSecond: z.number().min(0).default(2000),
        burst: z.number().int().min(1).default(4000),
        perHostPerSecond: z.number().min(0).default(2000),
        perHostBurst: z.number().int().min(1).default(4000),
      })
      .prefault({}),
  })
  .superRefine((rpc, ctx) => {
    if (rpc.maxForwardSkewMs > rpc.maxClockSkewMs) {
      ctx.addIssue({ code: 'custom', path: ['maxForwardSkewMs'], message: `must be at most maxClockSkewMs (${rpc.maxClockSkewMs})` });
    }
    // One frame of the largest size must fit, or large requests could never arrive.
    if (rpc.maxBufferedBytesPerConnection < rpc.maxFrameBytes + 4) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytesPerConnection'], message: `must be at least maxFrameBytes + 4 (${rpc.maxFrameBytes + 4})` });
    }
    if (rpc.maxBufferedBytes < rpc.maxBufferedBytesPerConnection) {
      ctx.addIssue({ code: 'custom', path: ['maxBufferedBytes'], message: `must be at least maxBufferedBytesPerConnection (${rpc.maxBufferedBytesPerConnection})` });
    }
  });

/** An IPv4/IPv6 address or network as a multiaddr: `/ip4/10.0.0.0/ipcidr/8`, `/ip6/2001:db8::1`. */
const ipNetMultiaddr = z.string().refine((s) => /^\/ip[46]\/[^/]+(\/ipcidr\/\d{1,3})?$/.test(s) && isMultiaddr(s), {
  message: 'expected an address or network such as /ip4/10.0.0.0/ipcidr/8',
});

/** `node.p2p`: connection limits of the libp2p host. README "Security model" explains each. */
export const P2pConfigSchema = z.strictObject({
  /** Open connections at most. Default 1024. */
  maxConnections: z.number().int().min(1).default(1024),
  /** Open plus handshaking inbound connections from one IPv4 address or IPv6 /64. Default 64. */
  maxConnectionsPerHost: z.number().int().min(1).default(64),
  /** New inbound connections accepted per second from one IP (many CLI clients share a NAT). Default 100. */
  inboundPerHostPerSecond: z.number().int().min(1).default(100),
  /** Inbound connections in handshake at once. Default 256. */
  maxPendingInbound: z.number().int().min(1).default(256),
  /**
   * Inbound connections in handshake at once from one IPv4 address or IPv6 /64 while at least half
   * of `maxPendingInbound` are pending (otherwise `maxConnectionsPerHost` bounds them). Default 8.
   */
  maxPendingPerHost: z.number().int().min(1).default(8),
  /** Time an inbound connection has to finish its handshake (noise + yamux). Default 10 s. */
  handshakeTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** The same while at least half of `maxPendingInbound` handshakes are pending. Default 2 s. */
  handshakeTimeoutUnderPressureMs: z.number().int().min(100).max(120_000).default(2_000),
  /** An inbound connection without an application stream for this long is closed; 0 never. Default 30 s. */
  idleTimeoutMs: z.number().int().min(0).default(30_000),
  /** Streams a remote may open on one connection, all protocols and those still negotiating. Default 64. */
  maxStreamsPerConnection: z.number().int().min(4).max(10_000).default(64),
  /** Bytes a remote may send on one stream before we read them (yamux window; min 256 KiB). Default 256 KiB. */
  streamWindowBytes: z.number().int().min(256 * 1024).max(16 * MiB).default(256 * 1024),
  /** Addresses/networks exempt from every connection limit (trusted peers). Default none. */
  allow: z.array(ipNetMultiaddr).default([]),
  /** Addresses/networks whose connections are refused. Default none. */
  deny: z.array(ipNetMultiaddr).default([]),
});

/** The `node:` block. */
export const NodeConfigSchema = z.strictObject({
  /** Human name of the node, used in logs. Default: the host name. */
  name: z.string().min(1).max(64).default(hostname()),
  /** Where the identity key and every plugin's data live; relative to the config file. */
  dataDir: z.string().min(1).default('./data'),
  /**
   * The node's identity key, relative to the config file. Default: `identity.key` in `dataDir`.
   * Set by `plexus render`, which generates every node's key up front so that peer ids (the
   * explorer's multiaddr, the WireGuard allow lists) can be written into the other nodes' configs.
   */
  identityFile: z.string().min(1).optional(),
  /** libp2p listen multiaddrs. Default all IPv4 interfaces, TCP 4001. */
  listen: z.array(multiaddrString).default(['/ip4/0.0.0.0/tcp/4001']),
  /**
   * Multiaddr(s) of the explorer this node's plugins call (client roles), with `/p2p/<peer id>`;
   * several: tried in order. Plugins reach it through `ctx.peers.explorer()`. Default none.
   */
  explorer: z
    .union([multiaddrString, z.array(multiaddrString).min(1)])
    .optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v])),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** Pretty lines instead of JSON; default: only when stderr is a terminal. */
      pretty: z.boolean().optional(),
    })
    .prefault({}),
  rpc: RpcConfigSchema.prefault({}),
  p2p: P2pConfigSchema.prefault({}),
});

export type NodeConfig = z.infer<typeof NodeConfigSchema>;
export type RpcConfig = z.infer<typeof RpcConfigSchema>;
export type P2pConfig = z.infer<typeof P2pConfigSchema>;
