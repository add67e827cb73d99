import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import dnsPacket from 'dns-packet';
import { silentLogger } from '@plexus/core';
import { Responder } from '../src/responder.js';
import { DnsServer, type TcpLimits } from '../src/server.js';
import { buildView } from '../src/zone.js';

/**
 * DNS over TCP under abuse, on real sockets: a trickling client is cut at the query deadline, one
 * IP cannot take every connection, the total is capped, and an honest client is still answered.
 */

async function server(t: TestContext, tcp: Partial<TcpLimits>): Promise<{ port: number; srv: DnsServer; warnings: unknown[] }> {
  const warnings: unknown[] = [];
  const log = Object.assign(silentLogger(), { warn: (obj: unknown) => void warnings.push(obj) });
  const responder = new Responder(() => buildView([], ['gateway.tf'], 300), { maxUdpPayload: 1232, forwarding: false });
  const srv = new DnsServer({ listen: [{ host: '127.0.0.1', port: 0 }], responder, forwarder: undefined, log, tcp });
  await srv.start();
  t.after(() => srv.stop());
  return { port: srv.addresses().tcp[0]!.port, srv, warnings };
}

function query(id: number): Buffer {
  const q = dnsPacket.encode({ type: 'query', id, questions: [{ name: 'gateway.tf', type: 'SOA' }] });
  const len = Buffer.alloc(2);
  len.writeUInt16BE(q.length);
  return Buffer.concat([len, q]);
}

function open(t: TestContext, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
    t.after(() => s.destroy());
  });
}

/** Resolves with how the connection ended: 'answer' when a reply arrived first, 'closed' otherwise. */
function outcome(s: Socket, timeoutMs: number): Promise<'answer' | 'closed' | 'open'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), timeoutMs);
    s.once('data', () => {
      clearTimeout(timer);
      resolve('answer');
    });
    s.once('close', () => {
      clearTimeout(timer);
      resolve('closed');
    });
    s.on('error', () => undefined);
  });
}

test('a query trickled one byte at a time is cut at the query deadline, not kept alive by each byte', async (t) => {
  const { port, srv, warnings } = await server(t, { queryMs: 600, idleMs: 10_000 });
  const s = await open(t, port);
  const bytes = query(1);
  const started = Date.now();
  let i = 0;
  const drip = setInterval(() => {
    if (i < bytes.length - 1 && !s.destroyed) s.write(bytes.subarray(i, ++i));
  }, 100);
  t.after(() => clearInterval(drip));
  assert.equal(await outcome(s, 5_000), 'closed');
  const took = Date.now() - started;
  assert.ok(took >= 550 && took < 2_000, `closed after ${took} ms`);
  assert.equal(srv.tcpRefused.slowQuery, 1);
  assert.equal(warnings.length, 1, 'the limit is logged');
});

test('a whole query is answered, and an idle connection is closed after idleMs', async (t) => {
  const { port } = await server(t, { idleMs: 500 });
  const s = await open(t, port);
  s.write(query(7));
  assert.equal(await outcome(s, 3_000), 'answer');
  assert.equal(await outcome(s, 3_000), 'closed');
});

test('one IP cannot hold more than maxPerIp connections, nor everyone more than maxConnections', async (t) => {
  const { port, srv } = await server(t, { maxPerIp: 5, maxConnections: 8 });
  const held = await Promise.all(Array.from({ length: 5 }, () => open(t, port)));
  const extra = await open(t, port);
  assert.equal(await outcome(extra, 3_000), 'closed', 'the sixth from one IP is refused');
  assert.equal(srv.tcpRefused.perIp, 1);
  // The ones it holds still work.
  held[0]!.write(query(2));
  assert.equal(await outcome(held[0]!, 3_000), 'answer');
  // 127.0.0.2 is another IP on loopback: allowed past the per-IP cap, up to the total.
  const other = await Promise.all(Array.from({ length: 3 }, () => new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' }, () => resolve(s));
    s.on('error', reject);
    t.after(() => s.destroy());
  })));
  other[0]!.write(query(3));
  assert.equal(await outcome(other[0]!, 3_000), 'answer');
  const ninth = await new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.3' }, () => resolve(s));
    s.on('error', reject);
    t.after(() => s.destroy());
  });
  assert.equal(await outcome(ninth, 3_000), 'closed', 'the total cap holds');
  assert.equal(srv.tcpRefused.overall, 1);
});
