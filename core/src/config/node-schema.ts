import { hostname } from 'node:os';
import { z } from 'zod';
import { multiaddr } from '@multiformats/multiaddr';

const multiaddrString = z.string().refine(
  (s) => {
    try {
      multiaddr(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected a multiaddr such as /ip4/0.0.0.0/tcp/4001' },
);

/** `node.rpc`: limits every RPC server of this node applies. */
export const RpcConfigSchema = z.strictObject({
  /** Largest accepted request frame in bytes. Default 1 MiB. */
  maxFrameBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  /** Accepted difference between the caller's signing time and ours, in ms. Default 30 s. */
  maxClockSkewMs: z.number().int().min(1000).max(3_600_000).default(30_000),
  /** Requests handled at once per stream. Default 256. */
  maxInFlightPerStream: z.number().int().min(1).max(10_000).default(256),
  /** Per-peer token bucket; perSecond 0 disables. Defaults 2000/s, burst 4000. */
  rateLimit: z
    .strictObject({
      perSecond: z.number().min(0).default(2000),
      burst: z.number().int().min(1).default(4000),
    })
    .prefault({}),
});

/** `node.p2p`: connection limits of the libp2p host. */
export const P2pConfigSchema = z.strictObject({
  /** Open connections at most. Default 1024. */
  maxConnections: z.number().int().min(1).default(1024),
  /** New inbound connections accepted per second from one IP (many CLI clients share a NAT). Default 100. */
  inboundPerHostPerSecond: z.number().int().min(1).default(100),
  /** Inbound connections in handshake at once. Default 256. */
  maxPendingInbound: z.number().int().min(1).default(256),
});

/** The `node:` block. */
export const NodeConfigSchema = z.strictObject({
  /** Human name of the node, used in logs. Default: the host name. */
  name: z.string().min(1).max(64).default(hostname()),
  /** Where the identity key and every plugin's data live; relative to the config file. */
  dataDir: z.string().min(1).default('./data'),
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
