import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { identify } from '@libp2p/identify';
import { ping } from '@libp2p/ping';
import type { PrivateKey } from '@libp2p/interface';

export interface P2pOptions {
  /** Multiaddrs to listen on; none for a client-only node (the CLI). */
  listen: string[];
  /** Omitted: an ephemeral key (CLI clients sign with their own key, not the transport key). */
  privateKey?: PrivateKey;
  maxConnections?: number;
  inboundPerHostPerSecond?: number;
  maxPendingInbound?: number;
}

/** The one libp2p stack plexus speaks: TCP, noise, yamux, identify, ping. */
export async function createP2pNode(options: P2pOptions): Promise<Libp2p> {
  return createLibp2p({
    ...(options.privateKey === undefined ? {} : { privateKey: options.privateKey }),
    addresses: { listen: options.listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: options.maxConnections ?? 1024,
      // libp2p's defaults (5 new connections/s per IP, 10 pending) refuse a burst of CLI clients.
      inboundConnectionThreshold: options.inboundPerHostPerSecond ?? 100,
      maxIncomingPendingConnections: options.maxPendingInbound ?? 256,
    },
    services: { identify: identify(), ping: ping() },
  });
}
