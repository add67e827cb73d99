import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ZONE_CHANGE_STREAM } from '@plexus/core';
import { Redis } from 'ioredis';
import { portFree } from '@plexus/core/testing';
import { short, startDns } from './harness.js';
import { startRedis } from './redis.js';

/**
 * `workers: 2`: two DNS threads on one port (SO_REUSEPORT). Real `dig` (a new source port each
 * run, so the kernel spreads the runs over the threads) gets answers from both; a gateway change
 * reaches both; status adds them up; stopping closes every thread's sockets.
 */

const ZONE_KEY = 'gateway.tf.';
const STREAM = ZONE_CHANGE_STREAM;
const A = (ip: string): string => JSON.stringify({ a: [{ ip, ttl: 300 }] });

interface ThreadStatus {
  queries: number;
  ready: boolean;
  lastStreamId: string;
}

async function gatewayWrite(c: Redis, field: string, value: string): Promise<string> {
  const res = await c.multi().hset(ZONE_KEY, field, value).xadd(STREAM, '*', 'k', ZONE_KEY, 'f', field).exec();
  return res![1]![1] as string;
}

function idAtLeast(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number) as [number, number];
  const [bm, bs] = b.split('-').map(Number) as [number, number];
  return am !== bm ? am > bm : as >= bs;
}

test('two workers on one port: dig reaches both, a change reaches both, status sums them, stop frees the port', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const c = new Redis({ port: redis.port });
  t.after(() => c.disconnect());
  await c.hset(ZONE_KEY, 'alice', A('10.0.0.1'));
  const dns = await startDns(t, redis, { zones: ['gateway.tf'], workers: 2 });
  const threads = async (): Promise<ThreadStatus[]> => ((await dns.service.status()).threads as (ThreadStatus & { missing?: boolean })[]).map((s) => { assert.notEqual(s.missing, true, 'a worker did not answer status'); return s; });
  assert.equal((await threads()).length, 2);

  // Until each thread has answered some dig (each answer right), within a generous deadline.
  const deadline = Date.now() + 120_000;
  let runs = 0;
  while ((await threads()).some((s) => s.queries === 0)) {
    assert.ok(Date.now() < deadline, `after ${runs} dig runs a thread still answered nothing: ${JSON.stringify(await threads())}`);
    assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A'), ['10.0.0.1']);
    runs++;
  }
  const status = await dns.service.status();
  const perThread = (await threads()).map((s) => s.queries);
  assert.ok((status.queries as number) >= perThread.reduce((a, b) => a + b, 0) - 2, 'status sums the threads');
  assert.ok(runs > 0);

  // A gateway change (field + stream entry) reaches every thread's view.
  const id = await gatewayWrite(c, 'alice', A('10.0.0.2'));
  const until = Date.now() + 60_000;
  while (!(await threads()).every((s) => idAtLeast(s.lastStreamId, id))) {
    assert.ok(Date.now() < until, `a thread did not read the change: ${JSON.stringify(await threads())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const before = (await threads()).map((s) => s.queries);
  for (let i = 0; i < 30 || (await threads()).some((s, j) => s.queries === before[j]); i++) {
    assert.ok(i < 400, 'dig runs did not reach both threads after the change');
    assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A'), ['10.0.0.2'], `answer ${i} after the change`);
  }

  await dns.service.stop();
  assert.equal(await portFree(dns.port), true, 'after stop no thread holds the UDP or TCP port');
});
