import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';
import { parseQuery } from '../src/query.js';
import { Responder } from '../src/responder.js';
import { buildView } from '../src/zone.js';
import { fileCleanup, short, startDns, type RunningDns } from './harness.js';
import { startRedis, type RedisServer } from './redis.js';

/**
 * Garbage must cost nothing but a counter: 2,000 random and mutated datagrams, then the server
 * still answers. The generator is seeded, so a failure replays identically.
 */

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

const BASES = [
  dnsPacket.encode({ type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'alice.gateway.tf' }] }),
  dnsPacket.encode({ type: 'query', id: 2, questions: [{ type: 'TXT', name: 'x.dev.gateway.tf' }], additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: 0x8000, options: [] } as never] }),
  dnsPacket.encode({ type: 'query', id: 3, questions: [{ type: 'SRV', name: '_sip._tcp.gateway.tf' }] }),
];

/** One fuzz input: random bytes, or a valid query with bytes flipped, cut or appended. */
function fuzzInput(r: () => number): Buffer {
  const pick = r();
  if (pick < 0.25) return Buffer.from(Array.from({ length: Math.floor(r() * 700) }, () => Math.floor(r() * 256)));
  const base = Buffer.from(BASES[Math.floor(r() * BASES.length)]!);
  if (pick < 0.55) {
    for (let i = 0, n = 1 + Math.floor(r() * 6); i < n; i++) base[Math.floor(r() * base.length)] = Math.floor(r() * 256);
    return base;
  }
  if (pick < 0.8) return base.subarray(0, Math.floor(r() * base.length));
  // Valid header and question, hostile counts and trailing bytes.
  base.writeUInt16BE(Math.floor(r() * 0x10000), 6 + 2 * Math.floor(r() * 3));
  return Buffer.concat([base, Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)))]);
}

test('the parser and responder never throw, whatever the bytes (50,000 inputs)', () => {
  const r = rng(42);
  const responder = new Responder(() => buildView([], ['gateway.tf'], 300), { maxUdpPayload: 1232, forwarding: false });
  for (let i = 0; i < 50_000; i++) {
    const input = fuzzInput(r);
    parseQuery(input);
    responder.handle(input, i % 2 === 0 ? 'udp' : 'tcp');
  }
  assert.equal(responder.counters.queries, 50_000);
});

let redis: RedisServer;
let dns: RunningDns;
const cleanup = fileCleanup();

before(async () => {
  redis = await startRedis();
  await redis.client().hset('gateway.tf.', 'alice', JSON.stringify({ a: [{ ip: '10.0.0.1' }] }));
  dns = await startDns(cleanup, redis, { zones: ['gateway.tf'] });
});

after(async () => {
  await cleanup.run();
  await redis?.stop();
});

/** Sends a valid query and waits for its answer: the server handles a socket's datagrams in order. */
function sync(sock: Socket, port: number, id: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer to the sync query')), 2000);
    const onMessage = (m: Buffer): void => {
      if (m.length >= 2 && m.readUInt16BE(0) === id && m.length > 12 && (m[2]! & 0x80) !== 0) {
        clearTimeout(timer);
        sock.off('message', onMessage);
        resolve();
      }
    };
    sock.on('message', onMessage);
    sock.send(dnsPacket.encode({ type: 'query', id, questions: [{ type: 'A', name: 'sync.gateway.tf' }] }), port, '127.0.0.1');
  });
}

test('2,000 random and mutated datagrams are dropped or refused and counted; the server still answers', async (t) => {
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => sock.close(() => resolve())));
  const r = rng(7);
  const before = await dns.service.status();
  let expectedMalformed = 0;
  for (let batch = 0; batch < 20; batch++) {
    for (let i = 0; i < 100; i++) {
      const input = fuzzInput(r);
      const outcome = parseQuery(input);
      if (outcome.kind === 'drop' || (outcome.kind === 'error' && outcome.rcode === 1)) expectedMalformed++;
      sock.send(input, dns.port, '127.0.0.1');
    }
    // Batches of 100 stay far below the socket buffer, so the kernel drops none.
    await sync(sock, dns.port, 0xf000 + batch);
  }
  const after = await dns.service.status();
  assert.equal((after.queries as number) - (before.queries as number), 2000 + 20);
  assert.equal((after.malformed as number) - (before.malformed as number), expectedMalformed);
  assert.ok(expectedMalformed > 500, `the inputs were hostile enough: ${expectedMalformed} malformed`);
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A'), ['10.0.0.1']);
});

test('garbage over TCP closes that connection only', async () => {
  const r = rng(99);
  for (let i = 0; i < 50; i++) {
    await new Promise<void>((resolve) => {
      const s = connect(dns.port, '127.0.0.1', () => {
        const body = fuzzInput(r);
        const frame = Buffer.alloc(2 + body.length);
        // Now and then a length that lies about what follows.
        frame.writeUInt16BE(i % 5 === 0 ? Math.floor(r() * 0x10000) : body.length);
        body.copy(frame, 2);
        s.end(frame);
      });
      s.on('data', () => undefined);
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
  }
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A', '+tcp'), ['10.0.0.1']);
});
