import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import dnsPacket from 'dns-packet';
import { silentLogger } from '@plexus/core';
import { Responder } from '../src/responder.js';
import { DnsServer } from '../src/server.js';
import { buildView } from '../src/zone.js';

/**
 * The UDP receive buffer (`udpReceiveBufferBytes`), on real sockets: the size in effect is the one
 * asked for up to the kernel's cap, a cap is warned about with the sysctl that lifts it, and a
 * burst that arrives while the event loop is busy waits in the buffer instead of being dropped.
 */

/** net.core.rmem_max: the kernel caps SO_RCVBUF here (root may not raise it inside a test). */
const RMEM_MAX = Number(readFileSync('/proc/sys/net/core/rmem_max', 'utf8').trim());

async function server(t: TestContext, udpReceiveBufferBytes: number): Promise<{ port: number; srv: DnsServer; warnings: { obj: unknown; msg: string }[] }> {
  const warnings: { obj: unknown; msg: string }[] = [];
  const log = Object.assign(silentLogger(), { warn: (obj: unknown, msg: string) => void warnings.push({ obj, msg }) });
  const responder = new Responder(() => buildView([], ['gateway.tf'], 300), { maxUdpPayload: 1232, forwarding: false });
  const srv = new DnsServer({ listen: [{ host: '127.0.0.1', port: 0 }], responder, forwarder: undefined, log, udpReceiveBufferBytes });
  await srv.start();
  t.after(() => srv.stop());
  return { port: srv.addresses().udp[0]!.port, srv, warnings };
}

test('the receive buffer asked for is in effect and reported; 0 leaves the system default alone', async (t) => {
  const asked = Math.min(1 << 20, RMEM_MAX);
  const { srv, warnings } = await server(t, asked);
  assert.deepEqual(srv.udpReceiveBuffer, { requested: asked, effective: asked });
  assert.deepEqual(warnings, []);
  const plain = await server(t, 0);
  assert.equal(plain.srv.udpReceiveBuffer, undefined);
  assert.deepEqual(plain.warnings, []);
});

test('a size above net.core.rmem_max is capped by the kernel, and the node says so with the sysctl that lifts the cap', async (t) => {
  const asked = RMEM_MAX + (1 << 20);
  const { srv, warnings } = await server(t, asked);
  assert.deepEqual(srv.udpReceiveBuffer, { requested: asked, effective: RMEM_MAX });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.msg, new RegExp(`caps the UDP receive buffer at ${RMEM_MAX} bytes .*sysctl -w net\\.core\\.rmem_max=${asked}`));
});

test('a burst that arrives while the event loop is busy is answered in full', async (t) => {
  const asked = Math.min(1 << 20, RMEM_MAX);
  const { port, srv } = await server(t, asked);
  // A small datagram costs the kernel well under 2 KiB of buffer (its bookkeeping included).
  const burst = Math.floor(srv.udpReceiveBuffer!.effective / 2048);
  assert.ok(burst >= 100, `burst of ${burst}`);
  const client = createSocket('udp4');
  t.after(() => client.close());
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', () => resolve()));
  const answered = new Set<number>();
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  client.on('message', (msg) => {
    answered.add(msg.readUInt16BE(0));
    if (answered.size === burst) done();
  });
  // Sent from this thread, so the server (same event loop) reads none of them until the loop is
  // free again: the whole burst sits in the server socket's buffer at once.
  for (let id = 0; id < burst; id++) client.send(dnsPacket.encode({ type: 'query', id, questions: [{ name: 'gateway.tf', type: 'SOA' }] }), port, '127.0.0.1');
  const timeout = setTimeout(done, 5_000);
  await all;
  clearTimeout(timeout);
  assert.equal(answered.size, burst, `${burst - answered.size} of ${burst} queries were dropped`);
});
