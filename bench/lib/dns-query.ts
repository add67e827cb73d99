import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';

/**
 * A tiny UDP DNS client for polling one server fast (propagation timing): one socket, one query
 * in flight, answers matched by id. `dig` per poll would cost ~10 ms of process start each.
 */
export class DnsPoller {
  private readonly socket: Socket;
  private nextId = 1;
  private pending: { id: number; resolve: (ips: string[]) => void; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {
    this.socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    this.socket.on('message', (msg) => {
      let packet;
      try {
        packet = dnsPacket.decode(msg);
      } catch {
        return;
      }
      const p = this.pending;
      if (p === undefined || packet.id !== p.id) return;
      this.pending = undefined;
      clearTimeout(p.timer);
      p.resolve((packet.answers ?? []).flatMap((a) => (a.type === 'A' ? [String((a as { data: unknown }).data)] : [])));
    });
  }

  /** A records of `name`; [] on NXDOMAIN, no answer or timeout. */
  query(name: string, timeoutMs = 200): Promise<string[]> {
    const id = (this.nextId = (this.nextId % 65_535) + 1);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        resolve([]);
      }, timeoutMs);
      this.pending = { id, resolve, timer };
      this.socket.send(dnsPacket.encode({ type: 'query', id, flags: 0, questions: [{ type: 'A', name }] }), this.port, this.host);
    });
  }

  /** Polls until `name` has `ip`; resolves with the ms it took, or rejects after `deadlineMs`. */
  async waitFor(name: string, ip: string, deadlineMs = 10_000): Promise<number> {
    const start = performance.now();
    while (performance.now() - start < deadlineMs) {
      if ((await this.query(name)).includes(ip)) return performance.now() - start;
    }
    throw new Error(`${name} did not resolve to ${ip} within ${deadlineMs} ms`);
  }

  close(): void {
    this.socket.close();
  }
}
