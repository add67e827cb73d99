import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

/**
 * Lowest port above which Linux hands out ephemeral ports by default (ip_local_port_range
 * 32768-60999). Ports are picked below it: a port from `listen(0)` can be taken by some outgoing
 * connection between the check and the caller's own bind, which made tests fail at random with
 * EADDRINUSE.
 */
const RANGE_START = 20_000;
const RANGE_END = 32_767;
const handedOut = new Set<number>();

/**
 * A TCP+UDP port on `host` that nothing listens on now and that this process has not handed out
 * before. For tests and benchmarks that start servers (redis-server, plexus, DNS) on free ports.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = RANGE_START + Math.floor(Math.random() * (RANGE_END - RANGE_START));
    if (handedOut.has(port)) continue;
    if ((await canBindTcp(host, port)) && (await canBindUdp(host, port))) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${host} between ${RANGE_START} and ${RANGE_END}`);
}

/**
 * Whether `port` on `host` can be bound now, over TCP and UDP, by a socket that shares it with no
 * one (no SO_REUSEPORT): for tests that check a stopped server let go of its port.
 */
export async function portFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return (await canBindTcp(host, port)) && (await canBindUdp(host, port));
}

function canBindTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function canBindUdp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, host, () => socket.close(() => resolve(true)));
  });
}
