import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createLibp2p, type Libp2p } from 'libp2p';
import { noise } from '@chainsafe/libp2p-noise';
import { yamux } from '@chainsafe/libp2p-yamux';
import { tcp, type TCPOptions } from '@libp2p/tcp';
import { multiaddr } from '@multiformats/multiaddr';
import { z } from 'zod';
import { createP2pNode } from '../src/p2p/libp2p.js';
import { RpcServer, type RpcServerOptions } from '../src/rpc/server.js';
import { RpcClient } from '../src/rpc/client.js';
import { signRequest } from '../src/rpc/auth.js';
import { FRAME_HEADER_BYTES, FrameDecoder, encodeFrame } from '../src/rpc/frame.js';
import type { RpcMethods, RpcRequestFrame, RpcResponseFrame } from '../src/rpc/types.js';
import { generateKeyPair, toHex, type Ed25519KeyPair } from '../src/crypto/ed25519.js';
import { PlexusError, defineErrors } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import { rejectsWithCode } from './helpers.js';

const PROTOCOL = '/plexus/test/1';
const TEST_ERRORS = defineErrors('rpc-test', { ERR_TEST_PLUGIN_CODE: 'Only tests raise this.' });
const TIMEOUT = { timeout: 30_000 };
const OPTIONS: RpcServerOptions = { maxFrameBytes: 4096, maxClockSkewMs: 30_000, maxInFlightPerStream: 16, rateLimit: { perSecond: 0, burst: 1 } };

/** What the test plugin's handlers did, so a test can tell a refused call from one that ran. */
const calls = { set: 0 };
const values = new Map<string, number>();
let releaseSlow: (() => void) | undefined;

function testMethods(): RpcMethods {
  return {
    echo: {
      mutating: false,
      params: z.strictObject({ text: z.string().max(1000) }),
      async handler(p: { text: string }) {
        return { text: p.text };
      },
    },
    set: {
      mutating: true,
      params: z.strictObject({ key: z.string(), value: z.number() }),
      async handler(p: { key: string; value: number }, call) {
        calls.set++;
        values.set(p.key, p.value);
        return { key: p.key, value: p.value, signer: call.signer };
      },
    },
    deep: {
      mutating: false,
      params: z.strictObject({ outer: z.strictObject({ inner: z.number() }) }),
      async handler() {
        return 'ok';
      },
    },
    boom: {
      mutating: false,
      params: z.strictObject({}),
      async handler() {
        throw new Error('kaboom: a bug in a handler');
      },
    },
    refuse: {
      mutating: false,
      params: z.strictObject({}),
      async handler() {
        throw new PlexusError('ERR_NOT_FOUND', 'no such thing', { data: { thing: 42 } });
      },
    },
    plugin_code: {
      mutating: false,
      params: z.strictObject({}),
      async handler() {
        throw new PlexusError(TEST_ERRORS.ERR_TEST_PLUGIN_CODE, 'declared by a plugin', { data: { why: 'test' } });
      },
    },
    slow: {
      mutating: false,
      params: z.strictObject({}),
      async handler() {
        await new Promise<void>((resolve) => (releaseSlow = resolve));
        return 'slow done';
      },
    },
  };
}

let server: Libp2p | undefined;
let rpc: RpcServer;
let addr: string;
let serverCreatedAt: number;

before(async () => {
  server = await createP2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
  serverCreatedAt = Date.now();
  rpc = new RpcServer(server, OPTIONS, silentLogger());
  await rpc.serve(PROTOCOL, testMethods(), silentLogger(), 'test');
  addr = server.getMultiaddrs()[0]!.toString();
});

after(async () => {
  await server?.stop();
});

type Answer = RpcResponseFrame;
const waiting = new WeakMap<RpcClient, Map<string | number, (a: Answer) => void>>();

/** A client with its own libp2p node (so its own PeerId), closed when the test ends. */
async function client(t: TestContext, target = addr, key: Ed25519KeyPair = generateKeyPair(), libp2p?: Libp2p): Promise<RpcClient> {
  const c = await RpcClient.connect(target, { key, timeoutMs: 10_000, ...(libp2p === undefined ? {} : { libp2p }) });
  t.after(() => c.close());
  const waiters = new Map<string | number, (a: Answer) => void>();
  waiting.set(c, waiters);
  c.onUnmatched = (answer) => {
    if (answer.id === null) return;
    const w = waiters.get(answer.id);
    waiters.delete(answer.id);
    w?.(answer);
  };
  return c;
}

/** Sends a hand-built request with `sendRaw` and returns the server's answer to its id. */
async function rawCall(c: RpcClient, frame: { id: string | number }): Promise<Answer> {
  const answer = new Promise<Answer>((resolve) => waiting.get(c)!.set(frame.id, resolve));
  await c.sendRaw(PROTOCOL, encodeFrame(frame));
  return answer;
}

function errorCode(answer: Answer): string {
  assert.ok('error' in answer, `expected an error, got ${JSON.stringify(answer)}`);
  return answer.error.code;
}

/** Sends raw bytes and returns the protocol-level error (id null) they provoke. */
async function orphanError(c: RpcClient, bytes: Uint8Array): Promise<{ code: string; message: string }> {
  const answer = new Promise<{ code: string; message: string }>((resolve) => {
    c.onOrphanError = (e) => {
      c.onOrphanError = undefined;
      resolve(e);
    };
  });
  await c.sendRaw(PROTOCOL, bytes);
  return answer;
}

/** A signed `set` request built by hand, for tampering. */
function signedSet(c: RpcClient, key: Ed25519KeyPair, id: string, params: unknown, opts: { ts?: number; audience?: string; protocol?: string; method?: string } = {}): RpcRequestFrame {
  const method = opts.method ?? 'set';
  const auth = signRequest({ protocol: opts.protocol ?? PROTOCOL, audience: opts.audience ?? c.remotePeer, method, params }, key, opts.ts ?? Date.now());
  return { id, method: 'set', params, auth };
}

function lengthHeader(length: number): Uint8Array {
  const h = Buffer.alloc(FRAME_HEADER_BYTES);
  h.writeUInt32BE(length, 0);
  return h;
}

/** After every hostile call: a fresh, well-behaved client is still served, read-only and signed. */
async function stillServes(t: TestContext, target = addr): Promise<void> {
  const fresh = await client(t, target);
  assert.deepEqual(await fresh.call(PROTOCOL, 'echo', { text: 'still here' }), { text: 'still here' });
  const key = `ok-${Math.random()}`;
  const result = await fresh.call<{ signer: string }>(PROTOCOL, 'set', { key, value: 7 }, { signed: true });
  assert.equal(values.get(key), 7);
  assert.match(result.signer, /^[0-9a-f]{64}$/);
}

test('a well-behaved client: read-only call unsigned, mutating call signed; the handler sees the signer', TIMEOUT, async (t) => {
  const key = generateKeyPair();
  const c = await client(t, addr, key);
  assert.deepEqual(await c.call(PROTOCOL, 'echo', { text: 'héllo 😀' }), { text: 'héllo 😀' });
  assert.equal(c.remotePeer, server!.peerId.toString());
  const r = await c.call<{ key: string; value: number; signer: string }>(PROTOCOL, 'set', { key: 'a', value: 1 }, { signed: true });
  assert.deepEqual(r, { key: 'a', value: 1, signer: toHex(key.publicKey) });
  // A read-only method may be signed too.
  assert.deepEqual(await c.call(PROTOCOL, 'echo', { text: 'x' }, { signed: true }), { text: 'x' });
});

test('ERR_METHOD_UNKNOWN', TIMEOUT, async (t) => {
  const c = await client(t);
  await rejectsWithCode(() => c.call(PROTOCOL, 'nosuch', {}), 'ERR_METHOD_UNKNOWN');
  // Inherited object members are not methods.
  await rejectsWithCode(() => c.call(PROTOCOL, 'toString', {}), 'ERR_METHOD_UNKNOWN');
  await rejectsWithCode(() => c.call(PROTOCOL, '__proto__', {}), 'ERR_METHOD_UNKNOWN');
  await stillServes(t);
});

const PARAMS_CASES: { name: string; method: string; params: unknown; signed?: boolean; path: string }[] = [
  { name: 'wrong type', method: 'echo', params: { text: 5 }, path: 'text' },
  { name: 'missing field', method: 'echo', params: {}, path: 'text' },
  { name: 'too long', method: 'echo', params: { text: 'x'.repeat(1001) }, path: 'text' },
  { name: 'nested field', method: 'deep', params: { outer: { inner: 'no' } }, path: 'outer.inner' },
  { name: 'params not an object', method: 'echo', params: [1, 2], path: '(params)' },
  { name: 'signed mutating call with bad params', method: 'set', params: { key: 'k', value: 'x' }, signed: true, path: 'value' },
];

for (const c of PARAMS_CASES) {
  test(`ERR_PARAMS_INVALID names the field: ${c.name}`, TIMEOUT, async (t) => {
    const before = calls.set;
    const cl = await client(t);
    const err = await rejectsWithCode(() => cl.call(PROTOCOL, c.method, c.params, { signed: c.signed === true }), 'ERR_PARAMS_INVALID');
    assert.equal(err.data?.path, c.path);
    assert.equal(calls.set, before, 'the handler did not run');
    await stillServes(t);
  });
}

test('ERR_AUTH_REQUIRED: a mutating call without a signature', TIMEOUT, async (t) => {
  const before = calls.set;
  const c = await client(t);
  await rejectsWithCode(() => c.call(PROTOCOL, 'set', { key: 'unsigned', value: 1 }), 'ERR_AUTH_REQUIRED');
  assert.equal(values.has('unsigned'), false);
  assert.equal(calls.set, before);
  await stillServes(t);
});

const TAMPER: { name: string; code: string; frame: (c: RpcClient, key: Ed25519KeyPair) => { id: string | number } }[] = [
  {
    name: 'params changed after signing',
    code: 'ERR_SIGNATURE_INVALID',
    frame: (c, key) => ({ ...signedSet(c, key, 'r1', { key: 'tamper', value: 1 }), params: { key: 'tamper', value: 1000 } }),
  },
  {
    name: 'signature bit flipped',
    code: 'ERR_SIGNATURE_INVALID',
    frame: (c, key) => {
      const f = signedSet(c, key, 'r2', { key: 'tamper', value: 1 });
      const sig = f.auth!.sig;
      return { ...f, auth: { ...f.auth!, sig: `${sig[0] === 'a' ? 'b' : 'a'}${sig.slice(1)}` } };
    },
  },
  {
    name: 'signed by another key than the one claimed',
    code: 'ERR_SIGNATURE_INVALID',
    frame: (c, key) => {
      const f = signedSet(c, key, 'r3', { key: 'tamper', value: 1 });
      return { ...f, auth: { ...f.auth!, pubkey: toHex(generateKeyPair().publicKey) } };
    },
  },
  {
    name: 'signed for another node (audience)',
    code: 'ERR_SIGNATURE_INVALID',
    frame: (c, key) => signedSet(c, key, 'r4', { key: 'tamper', value: 1 }, { audience: '12D3KooWGGmwyVrBPAfD8bNjkmHQtHyt5LswDhnsPc9LC3G4xnwJ' }),
  },
  {
    name: 'signed for another protocol',
    code: 'ERR_SIGNATURE_INVALID',
    frame: (c, key) => signedSet(c, key, 'r5', { key: 'tamper', value: 1 }, { protocol: '/plexus/other/1' }),
  },
  {
    name: 'signed for another method',
    code: 'ERR_SIGNATURE_INVALID',
    frame: (c, key) => signedSet(c, key, 'r6', { key: 'tamper', value: 1 }, { method: 'delete' }),
  },
  {
    name: 'malformed auth block',
    code: 'ERR_SIGNATURE_INVALID',
    frame: () => ({ id: 'r7', method: 'set', params: { key: 'tamper', value: 1 }, auth: { pubkey: 'nope', ts: 'now', nonce: 1, sig: '' } }),
  },
  {
    name: 'timestamp a minute old',
    code: 'ERR_TIMESTAMP_STALE',
    frame: (c, key) => signedSet(c, key, 'r8', { key: 'tamper', value: 1 }, { ts: Date.now() - 60_000 }),
  },
  {
    name: 'timestamp a minute ahead',
    code: 'ERR_TIMESTAMP_STALE',
    frame: (c, key) => signedSet(c, key, 'r9', { key: 'tamper', value: 1 }, { ts: Date.now() + 60_000 }),
  },
  {
    name: 'signed before the server started, within the skew',
    code: 'ERR_TIMESTAMP_STALE',
    frame: (c, key) => signedSet(c, key, 'r10', { key: 'tamper', value: 1 }, { ts: serverCreatedAt - 1 }),
  },
];

for (const c of TAMPER) {
  test(`${c.code} over the wire: ${c.name}`, TIMEOUT, async (t) => {
    const before = calls.set;
    const key = generateKeyPair();
    const cl = await client(t, addr, key);
    const frame = c.frame(cl, key);
    const answer = await rawCall(cl, frame);
    assert.equal(answer.id, frame.id);
    assert.equal(errorCode(answer), c.code);
    assert.equal(calls.set, before, 'the handler did not run');
    assert.equal(values.has('tamper'), false);
    await stillServes(t);
  });
}

test('ERR_REPLAY: the same signed frame sent twice runs once, on the same or another connection', TIMEOUT, async (t) => {
  const key = generateKeyPair();
  const c = await client(t, addr, key);
  const frame = signedSet(c, key, 'replayed', { key: 'replay', value: 1 });
  const before = calls.set;
  const first = await rawCall(c, frame);
  assert.ok('result' in first, JSON.stringify(first));
  assert.equal(calls.set, before + 1);
  assert.equal(errorCode(await rawCall(c, frame)), 'ERR_REPLAY');

  // Captured on the wire and replayed by another peer: still refused.
  const thief = await client(t);
  assert.equal(errorCode(await rawCall(thief, frame)), 'ERR_REPLAY');
  assert.equal(calls.set, before + 1);
  await stillServes(t);
});

test('a forged copy of a request does not burn its nonce', TIMEOUT, async (t) => {
  const key = generateKeyPair();
  const c = await client(t, addr, key);
  const genuine = signedSet(c, key, 'g', { key: 'forge', value: 1 });
  const forged = { ...genuine, id: 'f', params: { key: 'forge', value: 666 } };
  assert.equal(errorCode(await rawCall(c, forged)), 'ERR_SIGNATURE_INVALID');
  assert.ok('result' in (await rawCall(c, genuine)));
  assert.equal(values.get('forge'), 1);
});

test('ERR_FRAME_MALFORMED: garbage body answered with id null, the stream keeps working', TIMEOUT, async (t) => {
  const c = await client(t);
  const body = Buffer.from('this is not json', 'utf8');
  assert.equal((await orphanError(c, Buffer.concat([lengthHeader(body.length), body]))).code, 'ERR_FRAME_MALFORMED');
  const invalidUtf8 = Buffer.from([0x22, 0xff, 0xfe, 0x22]);
  assert.equal((await orphanError(c, Buffer.concat([lengthHeader(invalidUtf8.length), invalidUtf8]))).code, 'ERR_FRAME_MALFORMED');
  // Same client, same stream: decoding went on with the next frame.
  assert.deepEqual(await c.call(PROTOCOL, 'echo', { text: 'after garbage' }), { text: 'after garbage' });
  await stillServes(t);
});

/** Requests whose id cannot be read are answered with id null; the others under their own id. */
const INVALID_REQUESTS: { name: string; value: unknown; answerId: string | null }[] = [
  { name: 'an array', value: [1, 'echo', {}], answerId: null },
  { name: 'null', value: null, answerId: null },
  { name: 'a string', value: 'echo', answerId: null },
  { name: 'no id', value: { method: 'echo', params: { text: 'x' } }, answerId: null },
  { name: 'object id', value: { id: { a: 1 }, method: 'echo', params: { text: 'x' } }, answerId: null },
  { name: 'fractional id', value: { id: 1.5, method: 'echo', params: { text: 'x' } }, answerId: null },
  { name: 'id string too long', value: { id: 'i'.repeat(65), method: 'echo', params: { text: 'x' } }, answerId: null },
  { name: 'method not a string', value: { id: 'm', method: 7, params: {} }, answerId: 'm' },
  { name: 'no method', value: { id: 'm2', params: {} }, answerId: 'm2' },
];

for (const c of INVALID_REQUESTS) {
  test(`ERR_REQUEST_INVALID: ${c.name}`, TIMEOUT, async (t) => {
    const cl = await client(t);
    if (c.answerId === null) {
      assert.equal((await orphanError(cl, encodeFrame(c.value))).code, 'ERR_REQUEST_INVALID');
    } else {
      const answer = await rawCall(cl, c.value as { id: string });
      assert.equal(answer.id, c.answerId);
      assert.equal(errorCode(answer), 'ERR_REQUEST_INVALID');
    }
    assert.deepEqual(await cl.call(PROTOCOL, 'echo', { text: 'next' }), { text: 'next' });
    await stillServes(t);
  });
}

test('ERR_FRAME_TOO_LARGE reaches the client as an error with id null', TIMEOUT, async (t) => {
  const c = await client(t);
  assert.equal((await orphanError(c, lengthHeader(OPTIONS.maxFrameBytes + 1))).code, 'ERR_FRAME_TOO_LARGE');
  await stillServes(t);
});

test('ERR_FRAME_TOO_LARGE on a raw stream: one error frame with id null, then end of stream', TIMEOUT, async (t) => {
  const dialer = await createP2pNode({ listen: [] });
  t.after(() => dialer.stop());
  const stream = await dialer.dialProtocol(multiaddr(addr), PROTOCOL);
  t.after(() => stream.abort(new Error('test over')));
  // A good request first, then a header announcing more than the limit, with no body at all.
  stream.send(encodeFrame({ id: 1, method: 'echo', params: { text: 'first' } }));
  const decoder = new FrameDecoder();
  const frames: unknown[] = [];
  let sentOversize = false;
  for await (const chunk of stream) {
    for (const f of decoder.push(chunk instanceof Uint8Array ? chunk : chunk.subarray())) {
      assert.ok(f.ok);
      frames.push(f.value);
    }
    if (!sentOversize && frames.length === 1) {
      stream.send(lengthHeader(1_000_000));
      sentOversize = true;
    }
  }
  // The loop ending is the server closing the stream.
  assert.equal(frames.length, 2, JSON.stringify(frames));
  assert.deepEqual(frames[0], { id: 1, result: { text: 'first' } });
  const second = frames[1] as { id: unknown; error: { code: string; data?: Record<string, unknown> } };
  assert.equal(second.id, null);
  assert.equal(second.error.code, 'ERR_FRAME_TOO_LARGE');
  assert.equal(second.error.data?.limit, OPTIONS.maxFrameBytes);
  await stillServes(t);
});

test('ERR_INTERNAL for a handler that throws a plain Error; the server keeps serving', TIMEOUT, async (t) => {
  const c = await client(t);
  const errorsBefore = rpc.stats.errors.ERR_INTERNAL ?? 0;
  await rejectsWithCode(() => c.call(PROTOCOL, 'boom', {}), 'ERR_INTERNAL');
  assert.equal(rpc.stats.errors.ERR_INTERNAL, errorsBefore + 1);
  assert.deepEqual(await c.call(PROTOCOL, 'echo', { text: 'same client' }), { text: 'same client' });
  await stillServes(t);
});

test('a coded error from a handler reaches the caller with its code and data', TIMEOUT, async (t) => {
  const c = await client(t);
  const err = await rejectsWithCode(() => c.call(PROTOCOL, 'refuse', {}), 'ERR_NOT_FOUND');
  assert.equal(err.data?.thing, 42);
});

test("a plugin's own error code reaches the caller intact, with its data and hint", TIMEOUT, async (t) => {
  const c = await client(t);
  const err = await rejectsWithCode(() => c.call(PROTOCOL, 'plugin_code', {}), 'ERR_TEST_PLUGIN_CODE');
  assert.equal(err.data?.why, 'test');
  assert.equal((err as PlexusError).hint, 'Only tests raise this.');
  assert.equal(rpc.stats.errors.ERR_TEST_PLUGIN_CODE, 1);
});

test("a code unknown to the client (another process's plugin) is kept as sent; a malformed one is ERR_INTERNAL", () => {
  const known = PlexusError.fromWire({ code: 'ERR_SOMEONE_ELSES', message: 'm', data: { a: 1 } });
  assert.equal(known.code, 'ERR_SOMEONE_ELSES');
  assert.equal(known.hint, undefined);
  assert.deepEqual(known.data, { a: 1 });
  for (const bad of ['nope', 'ERR_lower', 42, undefined, 'ERR_' + 'X'.repeat(80)]) assert.equal(PlexusError.fromWire({ code: bad, message: 'm' }).code, 'ERR_INTERNAL');
});

test("a plugin may serve only its own protocol", TIMEOUT, async () => {
  for (const other of ['/plexus/other/1', '/plexus/test/0', '/plexus/test/x', '/ipfs/id/1.0.0']) {
    await rejectsWithCode(() => rpc.serve(other, testMethods(), silentLogger(), 'test'), 'ERR_INTERNAL');
  }
});

test('calls are pipelined on one stream and answered by id, out of order', TIMEOUT, async (t) => {
  const c = await client(t);
  releaseSlow = undefined;
  const slow = c.call(PROTOCOL, 'slow', {});
  // The echo sent after the slow call comes back first.
  assert.deepEqual(await c.call(PROTOCOL, 'echo', { text: 'overtakes' }), { text: 'overtakes' });
  const release = releaseSlow as (() => void) | undefined;
  assert.ok(release !== undefined, 'the slow handler is running');
  release();
  assert.equal(await slow, 'slow done');
});

test('many concurrent calls on one stream beyond maxInFlightPerStream all get their own answer', TIMEOUT, async (t) => {
  const c = await client(t);
  const texts = Array.from({ length: 200 }, (_, i) => `n${i}`);
  const results = await Promise.all(texts.map((text) => c.call<{ text: string }>(PROTOCOL, 'echo', { text })));
  assert.deepEqual(results.map((r) => r.text), texts);
});

test('ERR_RATE_LIMITED: the 3rd rapid call from one peer is refused while another peer is served', TIMEOUT, async (t) => {
  const limitedNode = await createP2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
  t.after(() => limitedNode.stop());
  const limited = new RpcServer(limitedNode, { ...OPTIONS, rateLimit: { perSecond: 1, burst: 2 } }, silentLogger());
  await limited.serve(PROTOCOL, testMethods());
  const target = limitedNode.getMultiaddrs()[0]!.toString();

  const greedy = await client(t, target);
  // Sent back to back on one stream, so they reach the limiter in this order well within a second.
  const results = await Promise.allSettled(['1', '2', '3'].map((text) => greedy.call(PROTOCOL, 'echo', { text })));
  assert.deepEqual(results.slice(0, 2), [
    { status: 'fulfilled', value: { text: '1' } },
    { status: 'fulfilled', value: { text: '2' } },
  ]);
  const third = results[2]!;
  assert.equal(third.status, 'rejected');
  assert.equal((third as PromiseRejectedResult).reason.code, 'ERR_RATE_LIMITED');
  assert.equal(limited.stats.errors.ERR_RATE_LIMITED, 1);
  await stillServes(t, target);
});

/** A client from a loopback address of its own (127.0.0.x), so the server sees a distinct host. */
async function clientFrom(t: TestContext, target: string, from: string): Promise<RpcClient> {
  const libp2p = await createLibp2p({
    addresses: { listen: [] },
    // `localAddress` reaches net.connect: the transport spreads dialOpts into it.
    transports: [tcp({ dialOpts: { localAddress: from } as TCPOptions['dialOpts'] })],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
  });
  t.after(() => libp2p.stop());
  const c = await client(t, target, generateKeyPair(), libp2p);
  return c;
}

test('ERR_BUSY: beyond rpc.maxPendingRequests (half of it per address) a request is refused at once, unverified and not run, and may be sent again', TIMEOUT, async (t) => {
  const node = await createP2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
  t.after(() => node.stop());
  const held: (() => void)[] = [];
  let ran = 0;
  const methods: RpcMethods = {
    ...testMethods(),
    hold: {
      mutating: false,
      params: z.strictObject({}),
      async handler() {
        await new Promise<void>((resolve) => held.push(resolve));
        return 'held';
      },
    },
    set: {
      mutating: true,
      params: z.strictObject({ key: z.string(), value: z.number() }),
      async handler(p: { key: string; value: number }) {
        ran++;
        return p.value;
      },
    },
    // A long poll: parked on an event through call.idle, so it does not count.
    park: {
      mutating: false,
      params: z.strictObject({}),
      async handler(_p: unknown, call) {
        assert.ok(call.idle !== undefined, 'a call over the wire can park');
        return call.idle(new Promise<string>((resolve) => parked.push(() => resolve('parked'))));
      },
    },
  };
  const parked: (() => void)[] = [];
  const busyServer = new RpcServer(node, { ...OPTIONS, maxPendingRequests: 4 }, silentLogger());
  await busyServer.serve(PROTOCOL, methods);
  const target = node.getMultiaddrs()[0]!.toString();
  // Two peers on one address share its half (2); a third address takes the rest.
  const [a1, a2, b] = [await clientFrom(t, target, '127.0.0.2'), await clientFrom(t, target, '127.0.0.2'), await clientFrom(t, target, '127.0.0.3')];
  // Bounded waits: a refused call would otherwise leave these loops spinning until the test timeout.
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    const deadline = Date.now() + 5_000;
    while (!ok()) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const waitHeld = (n: number): Promise<void> => until(`${n} held calls`, () => held.length >= n);
  const holding = [a1.call(PROTOCOL, 'hold', {}), a2.call(PROTOCOL, 'hold', {})];
  await waitHeld(2);
  const third = await rejectsWithCode(() => a1.call(PROTOCOL, 'echo', { text: 'x' }), 'ERR_BUSY');
  assert.deepEqual(third.data, { limit: 'rpc.maxPendingRequests', scope: 'host', pending: 2 });
  holding.push(b.call(PROTOCOL, 'hold', {}), b.call(PROTOCOL, 'hold', {}));
  await waitHeld(4);
  assert.equal(busyServer.stats.pending, 4);
  const full = await rejectsWithCode(() => b.call(PROTOCOL, 'echo', { text: 'x' }), 'ERR_BUSY');
  assert.deepEqual(full.data, { limit: 'rpc.maxPendingRequests', scope: 'node', pending: 4 });

  // Refused before the signature is checked: a forged request is answered ERR_BUSY too, and costs
  // no verification; a well signed one does not run and its nonce is not used up.
  const key = generateKeyPair();
  const forged = signedSet(a1, key, 'forged', { key: 'k', value: 1 });
  forged.auth = { ...(forged.auth as object), sig: '0'.repeat(128) } as RpcRequestFrame['auth'];
  assert.equal(errorCode(await rawCall(a1, forged)), 'ERR_BUSY');
  const good = signedSet(a1, key, 'good', { key: 'k', value: 2 });
  assert.equal(errorCode(await rawCall(a1, good)), 'ERR_BUSY');
  assert.equal(ran, 0);
  assert.equal(busyServer.stats.errors.ERR_BUSY, 4);
  assert.equal(busyServer.stats.errors.ERR_SIGNATURE_INVALID, undefined);

  // Once the held requests are answered, the same signed frame is accepted, and it runs once.
  for (const release of held) release();
  assert.deepEqual(await Promise.all(holding), ['held', 'held', 'held', 'held']);
  assert.equal(busyServer.stats.pending, 0);
  assert.deepEqual(await rawCall(a1, good), { id: 'good', result: 2 });
  assert.equal(ran, 1);
  assert.equal(errorCode(await rawCall(a1, good)), 'ERR_REPLAY');

  // Parked calls (long polls) do not count: five from one address, and that address is still served.
  const parking = Array.from({ length: 5 }, () => a1.call(PROTOCOL, 'park', {}));
  await until('5 parked calls', () => parked.length >= 5);
  assert.equal(busyServer.stats.pending, 0);
  assert.deepEqual(await a2.call(PROTOCOL, 'echo', { text: 'still served' }), { text: 'still served' });
  for (const wake of parked) wake();
  assert.deepEqual(await Promise.all(parking), Array(5).fill('parked'));
  assert.equal(busyServer.stats.pending, 0);
});

test('the client reports an unreachable node as ERR_CONNECT and a bad address as ERR_USAGE', TIMEOUT, async () => {
  await rejectsWithCode(() => RpcClient.connect('not a multiaddr'), 'ERR_USAGE');
  const gone = await createP2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
  const goneAddr = gone.getMultiaddrs()[0]!.toString();
  await gone.stop();
  await rejectsWithCode(() => RpcClient.connect(goneAddr, { timeoutMs: 5000 }), 'ERR_CONNECT');
});

test('a signed call needs a client key (ERR_USAGE), and an unserved protocol is ERR_CONNECT', TIMEOUT, async (t) => {
  const c = await RpcClient.connect(addr);
  t.after(() => c.close());
  await rejectsWithCode(() => c.call(PROTOCOL, 'set', { key: 'k', value: 1 }, { signed: true }), 'ERR_USAGE');
  await rejectsWithCode(() => c.call('/plexus/nothing-here/1', 'echo', {}), 'ERR_CONNECT');
});
