import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp, type TCPOptions } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { PrivateKey } from '@libp2p/interface';
import { PlexusError } from '../errors.js';
import type { P2pConfig } from '../config/node-schema.js';
import type { ConnectionGuard } from './connection-guard.js';

/** How to build a libp2p host: a serving node passes its `node.p2p` limits and a guard; a client neither. */
export interface P2pOptions {
  /** Multiaddrs to listen on; none for a client-only node (the CLI). */
  listen: string[];
  /** Omitted: an ephemeral key (CLI clients sign with their own key, not the transport key). */
  privateKey?: PrivateKey;
  /** A serving node's limits (`node.p2p`); omitted: libp2p's defaults, fine for a client. */
  limits?: P2pConfig;
  /** Per-host limits on inbound connections (see ConnectionGuard); attach it after creation. */
  guard?: ConnectionGuard;
  /** Local IP outgoing connections are made from (a multi-homed host, tests on 127.0.0.x). */
  dialFrom?: string;
  /**
   * A one-shot client (the CLI's RPC client): no identify or ping. Identify would only fill a
   * peer store that dies with the process (~30 ms of a CLI lookup, most of it ICU collation),
   * and nobody pings a client. A serving node, even one without listen addresses, keeps both.
   */
  oneShot?: boolean;
}

/**
 * The one libp2p stack plexus speaks: TCP, noise, yamux, identify, ping (not for one-shot clients).
 * @throws ERR_LISTEN naming the address when a listen address cannot be bound.
 */
export async function createP2pNode(options: P2pOptions): Promise<Libp2p> {
  const limits = options.limits;
  // `localAddress` reaches net.connect: the transport spreads dialOpts into it.
  const tcpOptions: TCPOptions = options.dialFrom === undefined ? {} : { dialOpts: { localAddress: options.dialFrom } as TCPOptions['dialOpts'] };
  try {
    return await createLibp2p<Record<string, unknown>>({
      ...(options.privateKey === undefined ? {} : { privateKey: options.privateKey }),
      addresses: { listen: options.listen },
      transports: [tcp(tcpOptions)],
      connectionEncrypters: [noise()],
      streamMuxers: [
        yamux(
          limits === undefined
            ? {}
            : {
                maxInboundStreams: limits.maxStreamsPerConnection,
                // A fixed window: yamux would otherwise grow it to 16 MiB per stream, and a stream
                // we stopped reading (backpressure) may hold a whole window in memory.
                streamOptions: { initialStreamWindowSize: limits.streamWindowBytes, maxStreamWindowSize: limits.streamWindowBytes },
              },
        ),
      ],
      ...(options.guard === undefined ? {} : { connectionGater: options.guard.gater() }),
      connectionManager: {
        maxConnections: limits?.maxConnections ?? 1024,
        // libp2p's defaults (5 new connections/s per IP, 10 pending) refuse a burst of CLI clients.
        inboundConnectionThreshold: limits?.inboundPerHostPerSecond ?? 100,
        maxIncomingPendingConnections: limits?.maxPendingInbound ?? 256,
        ...(limits === undefined
          ? {}
          : { inboundUpgradeTimeout: limits.handshakeTimeoutMs, allow: [...limits.allow], deny: [...limits.deny] }),
      },
      // Imported here, not at the top: a one-shot CLI lookup then never loads (or, in the CLI
      // bundle, evaluates) identify and ping.
      services: options.oneShot === true ? {} : { identify: (await import('@libp2p/identify')).identify(), ping: (await import('@libp2p/ping')).ping() },
    });
  } catch (err) {
    throw listenError(err) ?? err;
  }
}

/**
 * libp2p reports unbindable listen addresses as one error whose message lists
 * `  <multiaddr>: Error: listen EADDRINUSE: ...` per address; that list is all it keeps.
 */
function listenError(err: unknown): PlexusError | undefined {
  if (!(err instanceof Error) || err.name !== 'UnsupportedListenAddressesError') return undefined;
  const failures = [...err.message.matchAll(/^\s*(\/\S+): (?:\w*Error: )?(.*)$/gm)].map((m) => ({ address: m[1]!, reason: m[2]!.trim() }));
  const first = failures[0];
  if (first === undefined) return new PlexusError('ERR_LISTEN', `cannot listen on the configured addresses: ${err.message.split('\n')[0]}`, { cause: err });
  const code = /\b(E[A-Z]+)\b/.exec(first.reason)?.[1];
  const why = code === 'EADDRINUSE' ? 'the address is in use by another process' : code === 'EADDRNOTAVAIL' ? 'no interface of this machine has that address' : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : first.reason;
  return new PlexusError('ERR_LISTEN', `cannot listen on ${failures.map((f) => f.address).join(', ')}: ${why}`, {
    data: { addresses: failures.map((f) => f.address), ...(code === undefined ? {} : { reason: code }) },
    cause: err,
  });
}
