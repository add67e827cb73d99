import { createLibp2p, type Libp2p } from 'libp2p';
import { tcp, type TCPOptions } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import type { Stream } from '@libp2p/interface';
import { FrameDecoder } from '@plexus/core';

/**
 * A bare libp2p client (TCP, noise, yamux) whose connections leave from `from`, a loopback
 * address of our choosing, so the node under test sees attacker and canary as different hosts.
 * Built here rather than with core's createP2pNode so the attack tools do not depend on the code
 * they attack. `maxConnections` is the client's own cap (libp2p prunes above it).
 */
export async function clientNode(from: string, maxConnections = 4096): Promise<Libp2p> {
  // `localAddress` reaches net.connect: the transport spreads dialOpts into it.
  const dialOpts = { localAddress: from } as TCPOptions['dialOpts'];
  return createLibp2p({
    addresses: { listen: [] },
    transports: [tcp({ dialOpts })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { maxConnections, maxParallelDials: 64 },
    connectionMonitor: { enabled: false },
  });
}

/** A 4-byte big-endian frame header. */
export function header(length: number): Uint8Array {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(length, 0);
  return h;
}

/** Sends bytes on a stream, waiting for the muxer to drain when it asks to. */
export async function send(stream: Stream, bytes: Uint8Array): Promise<void> {
  if (!stream.send(bytes)) await stream.onDrain();
}

/**
 * Reads answer frames from a stream until it ends; calls `onFrame` with each decoded value.
 * Resolves with how the stream ended ('end' when the server closed it, else the error name).
 */
export async function readFrames(stream: Stream, onFrame: (value: any) => void): Promise<string> {
  const decoder = new FrameDecoder(16 * 1024 * 1024);
  try {
    for await (const chunk of stream) {
      for (const f of decoder.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())) if (f.ok) onFrame(f.value);
    }
    return 'end';
  } catch (err) {
    return (err as Error).name;
  }
}

/** Resolves after `ms`; for pacing an attack (a send rate), never to wait for a condition. */
export function pace(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
