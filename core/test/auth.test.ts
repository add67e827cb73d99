import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiter, ReplayCache, signRequest, verifyRequestAuth, type AuthPolicy, type SignInput } from '../src/rpc/auth.js';
import { keyPairFromSeed, signDetached, toHex } from '../src/crypto/ed25519.js';
import { rpcSigningBytes } from '../src/crypto/canonical.js';
import { PlexusError } from '../src/errors.js';
import type { RpcAuth } from '../src/rpc/types.js';
import { hex } from './helpers.js';

const KEY = keyPairFromSeed(hex('11'.repeat(32)));
const OTHER = keyPairFromSeed(hex('22'.repeat(32)));
// Real time: verifyRequestAuth takes `now`, but its ReplayCache checks expiry against Date.now().
const NOW = Date.now();
const POLICY: AuthPolicy = { maxSkewMs: 30_000, notBefore: NOW - 3_600_000 };
const INPUT: SignInput = {
  protocol: '/plexus/test/1',
  audience: '12D3KooWServerPeerId',
  method: 'set',
  params: { key: 'k', value: 1 },
};

function verify(auth: unknown, opts: { input?: SignInput; policy?: AuthPolicy; replay?: ReplayCache; now?: number } = {}): string {
  return verifyRequestAuth(opts.input ?? INPUT, auth, opts.policy ?? POLICY, opts.replay ?? new ReplayCache(), opts.now ?? NOW);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PlexusError, `not a PlexusError: ${String(err)}`);
    return err.code;
  }
  return 'no error';
}

test('signRequest output has the documented shape and verifies', () => {
  const auth = signRequest(INPUT, KEY, NOW);
  assert.equal(auth.pubkey, toHex(KEY.publicKey));
  assert.equal(auth.ts, NOW);
  assert.match(auth.nonce, /^[0-9a-f]{32}$/);
  assert.match(auth.sig, /^[0-9a-f]{128}$/);
  assert.equal(verify(auth), toHex(KEY.publicKey));
  assert.notEqual(signRequest(INPUT, KEY, NOW).nonce, auth.nonce, 'every request gets a fresh nonce');
});

const good = signRequest(INPUT, KEY, NOW);

const REJECTIONS: { name: string; code: string; auth: unknown; input?: SignInput; policy?: AuthPolicy; now?: number }[] = [
  { name: 'auth missing', code: 'ERR_AUTH_REQUIRED', auth: undefined },
  { name: 'auth null', code: 'ERR_AUTH_REQUIRED', auth: null },
  { name: 'auth is a string', code: 'ERR_SIGNATURE_INVALID', auth: 'signed!' },
  { name: 'auth is an array', code: 'ERR_SIGNATURE_INVALID', auth: [good] },
  { name: 'auth is an empty object', code: 'ERR_SIGNATURE_INVALID', auth: {} },
  { name: 'pubkey missing', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, pubkey: undefined } },
  { name: 'pubkey upper case', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, pubkey: good.pubkey.toUpperCase() } },
  { name: 'pubkey too short', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, pubkey: good.pubkey.slice(2) } },
  { name: 'ts a string', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, ts: String(good.ts) } },
  { name: 'ts fractional', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, ts: good.ts + 0.5 } },
  { name: 'ts beyond safe integers', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, ts: 2 ** 60 } },
  { name: 'nonce too short', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, nonce: good.nonce.slice(1) } },
  { name: 'nonce not hex', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, nonce: 'g'.repeat(32) } },
  { name: 'nonce a number', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, nonce: 12345 } },
  { name: 'sig malformed', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, sig: 'zz' } },
  { name: 'sig of another message', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, sig: signRequest({ ...INPUT, method: 'other' }, KEY, NOW).sig } },
  { name: 'sig by another key', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, pubkey: toHex(OTHER.publicKey) } },
  { name: 'sig with a bit flipped', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, sig: `${good.sig.slice(0, 10)}${good.sig[10] === '0' ? '1' : '0'}${good.sig.slice(11)}` } },
  { name: 'ts changed after signing', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, ts: good.ts + 1 } },
  { name: 'nonce changed after signing', code: 'ERR_SIGNATURE_INVALID', auth: { ...good, nonce: 'f'.repeat(32) } },
  { name: 'params changed', code: 'ERR_SIGNATURE_INVALID', auth: good, input: { ...INPUT, params: { key: 'k', value: 2 } } },
  { name: 'params gained a key', code: 'ERR_SIGNATURE_INVALID', auth: good, input: { ...INPUT, params: { key: 'k', value: 1, extra: true } } },
  { name: 'other method', code: 'ERR_SIGNATURE_INVALID', auth: good, input: { ...INPUT, method: 'delete' } },
  { name: 'other audience (another node)', code: 'ERR_SIGNATURE_INVALID', auth: good, input: { ...INPUT, audience: '12D3KooWAnotherNode' } },
  { name: 'other protocol (another plugin)', code: 'ERR_SIGNATURE_INVALID', auth: good, input: { ...INPUT, protocol: '/plexus/other/1' } },
  { name: 'other protocol major', code: 'ERR_SIGNATURE_INVALID', auth: good, input: { ...INPUT, protocol: '/plexus/test/2' } },
  { name: 'too old', code: 'ERR_TIMESTAMP_STALE', auth: signRequest(INPUT, KEY, NOW - 30_001) },
  { name: 'too new', code: 'ERR_TIMESTAMP_STALE', auth: signRequest(INPUT, KEY, NOW + 30_001) },
  { name: 'far in the past', code: 'ERR_TIMESTAMP_STALE', auth: signRequest(INPUT, KEY, 0) },
  {
    name: 'before notBefore, although within the skew',
    code: 'ERR_TIMESTAMP_STALE',
    auth: signRequest(INPUT, KEY, NOW - 1000),
    policy: { maxSkewMs: 30_000, notBefore: NOW - 999 },
  },
  {
    name: 'ahead by more than maxForwardSkewMs, although within maxSkewMs',
    code: 'ERR_TIMESTAMP_STALE',
    auth: signRequest(INPUT, KEY, NOW + 5_001),
    policy: { maxSkewMs: 30_000, maxForwardSkewMs: 5_000, notBefore: NOW - 3_600_000 },
  },
];

for (const c of REJECTIONS) {
  test(`verifyRequestAuth rejects ${c.name} with ${c.code}`, () => {
    const args: Parameters<typeof verify>[1] = {};
    if (c.input !== undefined) args.input = c.input;
    if (c.policy !== undefined) args.policy = c.policy;
    if (c.now !== undefined) args.now = c.now;
    assert.equal(codeOf(() => verify(c.auth, args)), c.code);
  });
}

test('ERR_TIMESTAMP_STALE carries the server time and the skew', () => {
  try {
    verify(signRequest(INPUT, KEY, NOW - 60_000));
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof PlexusError);
    assert.equal(err.code, 'ERR_TIMESTAMP_STALE');
    assert.deepEqual(err.data, { serverTime: NOW, maxSkewMs: 30_000, maxForwardSkewMs: 30_000, notBefore: POLICY.notBefore });
  }
});

test('timestamps exactly at the skew limit are accepted, on both sides', () => {
  assert.equal(verify(signRequest(INPUT, KEY, NOW - 30_000)), good.pubkey);
  assert.equal(verify(signRequest(INPUT, KEY, NOW + 30_000)), good.pubkey);
  assert.equal(verify(signRequest(INPUT, KEY, NOW), { policy: { maxSkewMs: 30_000, notBefore: NOW } }), good.pubkey);
});

test('a repeated nonce is ERR_REPLAY, a fresh one from the same key is fine', () => {
  const replay = new ReplayCache();
  const auth = signRequest(INPUT, KEY, NOW);
  assert.equal(verify(auth, { replay }), good.pubkey);
  assert.equal(codeOf(() => verify(auth, { replay })), 'ERR_REPLAY');
  assert.equal(codeOf(() => verify(auth, { replay, now: NOW + 29_000 })), 'ERR_REPLAY');
  assert.equal(verify(signRequest(INPUT, KEY, NOW), { replay }), good.pubkey);
});

test('the same nonce under another key is not a replay', () => {
  const replay = new ReplayCache();
  const a = signRequest(INPUT, KEY, NOW);
  verify(a, { replay });
  // OTHER signs over the very same nonce.
  assert.equal(verify(resign(a, OTHER), { replay }), toHex(OTHER.publicKey));
});

test('a forged request does not burn the nonce of the genuine one', () => {
  const replay = new ReplayCache();
  const genuine = signRequest(INPUT, KEY, NOW);
  // A forger who saw the nonce (or guessed it) sends it first with a bad signature...
  const forged = { ...genuine, sig: signRequest(INPUT, OTHER, NOW).sig };
  assert.equal(codeOf(() => verify(forged, { replay })), 'ERR_SIGNATURE_INVALID');
  // ...with altered params...
  assert.equal(codeOf(() => verify(genuine, { replay, input: { ...INPUT, params: { key: 'evil', value: 1 } } })), 'ERR_SIGNATURE_INVALID');
  // ...or replays it once it is stale: none of that is remembered.
  assert.equal(codeOf(() => verify(genuine, { replay, now: NOW + 31_000 })), 'ERR_TIMESTAMP_STALE');
  assert.equal(replay.size, 0);
  assert.equal(verify(genuine, { replay }), genuine.pubkey);
  assert.equal(replay.size, 1);
});

/** The same auth block signed again by `key` over its own ts and nonce. */
function resign(auth: RpcAuth, key: typeof KEY): RpcAuth {
  const sig = toHex(signDetached(rpcSigningBytes({ ...INPUT, ts: auth.ts, nonce: auth.nonce }), key));
  return { ...auth, pubkey: toHex(key.publicKey), sig };
}

test('ReplayCache remembers a key until it expires, inclusive', () => {
  const cache = new ReplayCache();
  assert.equal(cache.remember('k', 1000, 0), true);
  assert.equal(cache.remember('k', 5000, 500), false);
  assert.equal(cache.remember('k', 5000, 1000), false, 'still remembered at the expiry instant');
  assert.equal(cache.remember('k', 5000, 1001), true, 'expired: accepted again');
  assert.equal(cache.remember('k', 9000, 4000), false, 'and remembered with the new expiry');
});

test('ReplayCache forgets expired keys, so memory stays bounded', () => {
  const cache = new ReplayCache();
  for (let i = 0; i < 100; i++) assert.equal(cache.remember(`n${i}`, 1000 + i, i), true);
  assert.equal(cache.size, 100);
  assert.equal(cache.remember('late', 10_000, 2000), true);
  assert.equal(cache.size, 1);
});

test('ReplayCache keeps unexpired keys while sweeping older ones', () => {
  const cache = new ReplayCache();
  cache.remember('a', 100, 0);
  cache.remember('b', 200, 0);
  cache.remember('c', 300, 0);
  assert.equal(cache.remember('d', 400, 150), true);
  assert.equal(cache.size, 3);
  assert.equal(cache.remember('b', 999, 150), false);
  assert.equal(cache.remember('a', 999, 150), true);
});

test('RateLimiter: burst, then refused, then refilled per second; peers are independent', () => {
  const rl = new RateLimiter({ perSecond: 2, burst: 3 });
  const t0 = 1_000_000;
  assert.deepEqual([rl.take('p', t0), rl.take('p', t0), rl.take('p', t0), rl.take('p', t0)], [true, true, true, false]);
  assert.equal(rl.take('q', t0), true, 'another peer has its own bucket');
  assert.equal(rl.take('p', t0 + 499), false, 'not yet a whole token');
  assert.equal(rl.take('p', t0 + 500), true, '2/s: one token after 500 ms');
  assert.equal(rl.take('p', t0 + 500), false);
  assert.equal(rl.take('p', t0 + 1500), true);
  assert.equal(rl.take('p', t0 + 1500), true);
  assert.equal(rl.take('p', t0 + 1500), false);
});

test('RateLimiter: an idle peer gets at most `burst` tokens back', () => {
  const rl = new RateLimiter({ perSecond: 10, burst: 2 });
  const t0 = 5_000_000;
  rl.take('p', t0);
  rl.take('p', t0);
  assert.equal(rl.take('p', t0), false);
  const later = t0 + 3_600_000;
  assert.deepEqual([rl.take('p', later), rl.take('p', later), rl.take('p', later)], [true, true, false]);
});

test('RateLimiter: refused attempts do not cost tokens', () => {
  const rl = new RateLimiter({ perSecond: 1, burst: 1 });
  const t0 = 9_000_000;
  assert.equal(rl.take('p', t0), true);
  // 250 ms steps sum exactly; 100 ms steps drift to 0.999... tokens at 1000 ms (refill is accumulated
  // in floating point on every refused call: see RateLimiter.take).
  for (let i = 1; i < 4; i++) assert.equal(rl.take('p', t0 + i * 250), false);
  assert.equal(rl.take('p', t0 + 1000), true);
  assert.equal(rl.take('p', t0 + 1000), false);
});

test('RateLimiter: perSecond 0 disables the limit', () => {
  const rl = new RateLimiter({ perSecond: 0, burst: 1 });
  for (let i = 0; i < 1000; i++) assert.equal(rl.take('p', 42), true);
});

test('RateLimiter: a peer dropped by the idle sweep comes back with a full bucket', () => {
  const rl = new RateLimiter({ perSecond: 1, burst: 2 });
  const t0 = 10_000_000;
  assert.equal(rl.take('p', t0), true);
  assert.equal(rl.take('p', t0), true);
  assert.equal(rl.take('p', t0), false);
  // Another peer's call after more than a minute sweeps idle buckets.
  assert.equal(rl.take('q', t0 + 61_000), true);
  assert.deepEqual([rl.take('p', t0 + 61_000), rl.take('p', t0 + 61_000), rl.take('p', t0 + 61_000)], [true, true, false]);
});

test('maxForwardSkewMs bounds the lead only: 5 s ahead and 30 s behind are both fresh', () => {
  const policy: AuthPolicy = { maxSkewMs: 30_000, maxForwardSkewMs: 5_000, notBefore: NOW - 3_600_000 };
  assert.equal(verify(signRequest(INPUT, KEY, NOW + 5_000), { policy }), good.pubkey);
  assert.equal(verify(signRequest(INPUT, KEY, NOW - 30_000), { policy }), good.pubkey);
});
