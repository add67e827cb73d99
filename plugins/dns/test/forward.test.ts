import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { fileCleanup, header, short, startDns, type RunningDns } from './harness.js';
import { startRedis, type RedisServer } from './redis.js';

/**
 * Names outside our zones go to the forwarders. The upstream here is a second instance of this
 * server, serving `upstream.test` from the same store.
 */

let redis: RedisServer;
let upstream: RunningDns;
let front: RunningDns;
const cleanup = fileCleanup();

before(async () => {
  redis = await startRedis();
  const c = redis.client();
  await c.hset('gateway.tf.', 'alice', JSON.stringify({ a: [{ ip: '10.0.0.1' }] }));
  await c.hset('upstream.test.', 'www', JSON.stringify({ a: [{ ip: '192.0.2.80' }] }));
  await c.hset('upstream.test.', 'big', JSON.stringify({ txt: Array.from({ length: 24 }, (_, i) => ({ text: `${i}`.padEnd(200, 'y') })) }));
  upstream = await startDns(cleanup, redis, { zones: ['upstream.test'] });
  front = await startDns(cleanup, redis, { zones: ['gateway.tf'], forwarders: [`127.0.0.1:${upstream.port}`], forwardTimeoutMs: 500 });
});

after(async () => {
  await cleanup.run();
  await redis?.stop();
});

test('names outside the zones are forwarded, over UDP and TCP; ours are still answered here', async () => {
  assert.deepEqual(await short(front.port, 'www.upstream.test', 'A'), ['192.0.2.80']);
  assert.deepEqual(await short(front.port, 'WWW.Upstream.TEST', 'A', '+tcp'), ['192.0.2.80']);
  const h = await header(front.port, 'www.upstream.test', 'A');
  // The upstream's answer is passed through: its AA flag, not ours.
  assert.deepEqual([h.status, h.answer], ['NOERROR', 1]);
  assert.equal((await header(front.port, 'nope.upstream.test', 'A')).status, 'NXDOMAIN');
  assert.deepEqual(await short(front.port, 'alice.gateway.tf', 'A'), ['10.0.0.1']);
  const s = await front.service.status();
  assert.ok((s.forwarded as number) >= 4, `forwarded ${String(s.forwarded)}`);
  assert.equal(s.forwardFailures, 0);
});

test('a truncated upstream answer is fetched over TCP for a TCP client', async () => {
  const udp = await header(front.port, 'big.upstream.test', 'TXT', '+ignore');
  assert.ok(udp.flags.includes('tc'), `flags ${udp.flags.join(' ')}`);
  assert.equal((await short(front.port, 'big.upstream.test', 'TXT', '+tcp')).length, 24);
});

test('when no forwarder answers, the client gets SERVFAIL', async (t) => {
  // A UDP socket that reads and never answers: the forwarder's timeout must fire.
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => silent.close(() => resolve())));
  const lonely = await startDns(t, redis, { zones: ['gateway.tf'], forwarders: [`127.0.0.1:${silent.address().port}`], forwardTimeoutMs: 100 });
  assert.equal((await header(lonely.port, 'www.upstream.test', 'A')).status, 'SERVFAIL');
  assert.equal((await lonely.service.status()).forwardFailures, 1);
});
