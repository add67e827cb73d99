import { test } from 'node:test';
import assert from 'node:assert/strict';
import { multiaddr } from '@multiformats/multiaddr';
import { FrameBudget } from '../src/rpc/frame-budget.js';
import { FrameDecoder, encodeFrame } from '../src/rpc/frame.js';
import { hostKeyOf, hostKeyOfIp } from '../src/p2p/host-key.js';
import { MAX_PARAMS_DEPTH, checkParamsJson } from '../src/rpc/json-guard.js';
import { isUnavailableError } from '../src/rpc/unavailable.js';
import { rejectsWithCode } from './helpers.js';

const HOST_KEYS: [string, string][] = [
  ['203.0.113.7', '203.0.113.7'],
  ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
  ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
  ['2001:db8::1', '2001:db8:0:0::/64'],
  ['::1', '0:0:0:0::/64'],
  ['::ffff:198.51.100.4', '198.51.100.4'],
  ['fe80::1%eth0', 'fe80:0:0:0::/64'],
];

for (const [ip, key] of HOST_KEYS) {
  test(`host key of ${ip} is ${key}`, () => assert.equal(hostKeyOfIp(ip), key));
}

test('host key of a multiaddr: its IP; without one, the whole address', () => {
  assert.equal(hostKeyOf(multiaddr('/ip4/10.1.2.3/tcp/4001')), '10.1.2.3');
  assert.equal(hostKeyOf(multiaddr('/ip6/2001:db8:aa:bb::1/tcp/4001')), '2001:db8:aa:bb::/64');
  assert.equal(hostKeyOf(multiaddr('/dns4/example.org/tcp/4001')), '/dns4/example.org/tcp/4001');
});

test('FrameBudget: a connection over its budget is refused; releasing returns the bytes', () => {
  const evicted: object[] = [];
  const budget = new FrameBudget<object>({ perConnection: 100, total: 1000 }, (c) => evicted.push(c));
  const conn = {};
  const a = budget.stream(conn);
  const b = budget.stream(conn);
  assert.equal(a.set(60), 'ok');
  assert.equal(b.set(40), 'ok');
  assert.equal(budget.bytesOf(conn), 100);
  assert.equal(b.set(41), 'connection');
  // Refused: no longer counted, whatever its streams report afterwards.
  assert.equal(budget.totalBytes, 0);
  assert.equal(a.set(10), 'total');
  a.release();
  b.release();
  assert.equal(budget.totalBytes, 0);
  assert.deepEqual(evicted, []);
});

test('FrameBudget: over the total, the largest other holder is evicted, not the small newcomer', () => {
  const evicted: string[] = [];
  const budget = new FrameBudget<{ name: string }>({ perConnection: 500, total: 1000 }, (c) => evicted.push(c.name));
  const hog1 = budget.stream({ name: 'hog1' });
  const hog2 = budget.stream({ name: 'hog2' });
  const small = budget.stream({ name: 'small' });
  assert.equal(hog1.set(500), 'ok');
  assert.equal(hog2.set(450), 'ok');
  assert.equal(small.set(100), 'ok');
  assert.deepEqual(evicted, ['hog1']);
  assert.equal(budget.totalBytes, 550);
  hog1.release();
  assert.equal(budget.totalBytes, 550, 'an evicted holder releases nothing twice');
  // The asker itself is the largest: it is the one refused, nobody else is evicted.
  const big = budget.stream({ name: 'big' });
  assert.equal(big.set(499), 'total');
  assert.deepEqual(evicted, ['hog1']);
  assert.equal(budget.totalBytes, 550);
  small.release();
  hog2.release();
  big.release();
  assert.equal(budget.totalBytes, 0);
});

test('FrameDecoder retains at most twice what an unfinished frame holds, and nothing once it completes', () => {
  const frame = Buffer.from(encodeFrame({ blob: 'x'.repeat(100_000) }));
  const d = new FrameDecoder(1 << 20);
  for (let i = 0; i < frame.length - 1; i += 997) {
    d.push(frame.subarray(i, Math.min(i + 997, frame.length - 1)));
    assert.ok(d.retainedBytes <= Math.max(64, 2 * d.pendingBytes), `${d.retainedBytes} retained for ${d.pendingBytes}`);
    assert.ok(d.retainedBytes <= frame.length);
  }
  const out = d.push(frame.subarray(frame.length - 1));
  assert.equal(out.length, 1);
  assert.equal(d.retainedBytes, 0);
});

test('checkParamsJson: finite numbers and shallow values pass', () => {
  checkParamsJson({ a: [1, 2.5, -0, 1e308], b: { c: 'x', d: null, e: true } });
  let deep: unknown = 1;
  for (let i = 0; i < MAX_PARAMS_DEPTH - 1; i++) deep = [deep];
  checkParamsJson({ deep });
});

test('checkParamsJson: 1e400 and nesting 200 deep are ERR_PARAMS_INVALID naming the field', async () => {
  const inf = await rejectsWithCode(() => checkParamsJson(JSON.parse('{"name":"a","n":{"x":[1,1e400]}}')), 'ERR_PARAMS_INVALID');
  assert.equal(inf.data?.path, 'n.x.1');
  const deep = await rejectsWithCode(() => checkParamsJson(JSON.parse(`{"v":${'['.repeat(200)}${']'.repeat(200)}}`)), 'ERR_PARAMS_INVALID');
  assert.match(String(deep.data?.path), /^v\.0\.0/);
});

test('isUnavailableError: ioredis connection failures yes, bugs no', () => {
  assert.equal(isUnavailableError(new Error('Connection is closed.')), true);
  assert.equal(isUnavailableError(new Error("Stream isn't writeable and enableOfflineQueue options is false")), true);
  assert.equal(isUnavailableError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })), true);
  assert.equal(isUnavailableError(Object.assign(new Error('Reached the max retries per request limit (which is 1).'), { name: 'MaxRetriesPerRequestError' })), true);
  assert.equal(isUnavailableError(new Error('LOADING Redis is loading the dataset in memory')), true);
  assert.equal(isUnavailableError(new Error('wrapped', { cause: new Error('Connection is closed.') })), true);
  assert.equal(isUnavailableError(new TypeError("Cannot read properties of undefined (reading 'x')")), false);
  assert.equal(isUnavailableError('Connection is closed.'), false);
});
