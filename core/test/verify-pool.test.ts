import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { z } from 'zod';
import { VerifyPool } from '../src/rpc/verify-pool.js';
import { RpcServer } from '../src/rpc/server.js';
import { RpcClient } from '../src/rpc/client.js';
import { signRequest } from '../src/rpc/auth.js';
import { createP2pNode } from '../src/p2p/libp2p.js';
import { generateKeyPair, signDetached, toHex } from '../src/crypto/ed25519.js';
import { definePlugin, type PluginDefinition } from '../src/plugin.js';
import { protocolId, type RpcMethods } from '../src/rpc/types.js';
import { parseConfig } from '../src/config/load.js';
import { PlexusNode } from '../src/node.js';
import { silentLogger } from '../src/logger.js';
import { rejectsWithCode, tempDir } from './helpers.js';

const TIMEOUT = { timeout: 60_000 };

/** Worker threads of this process: Node names each one `WorkerThread`. */
function workerThreads(): number {
  let n = 0;
  for (const task of readdirSync('/proc/self/task')) {
    try {
      if (readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim() === 'WorkerThread') n++;
    } catch {
      // The thread ended while we looked.
    }
  }
  return n;
}

async function until(what: string, cond: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `n` signed messages, every third one with a wrong signature, one with malformed hex. */
function samples(n: number): { message: Uint8Array; sig: string; pubkey: string; valid: boolean }[] {
  const keys = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
  return Array.from({ length: n }, (_, i) => {
    const key = keys[i % keys.length]!;
    const message = Buffer.from(`plexus-rpc/1\nmessage ${i}\n${'x'.repeat(i % 200)}`);
    let sig = toHex(signDetached(message, key));
    let valid = true;
    if (i % 3 === 1) {
      sig = toHex(signDetached(Buffer.from(`another message ${i}`), key));
      valid = false;
    } else if (i === n - 1) {
      sig = 'zz'.repeat(64);
      valid = false;
    }
    return { message, sig, pubkey: toHex(key.publicKey), valid };
  });
}

test('a pool answers each signature in a batch by itself: valid ones true, forged or malformed ones false', TIMEOUT, async (t) => {
  const pool = new VerifyPool(2);
  t.after(() => pool.close());
  const items = samples(600);
  const results = await Promise.all(items.map((s) => pool.verify(s.message, s.sig, s.pubkey)));
  assert.deepEqual(results, items.map((s) => s.valid));
  assert.equal(pool.stats.verified, 600);
  assert.ok(pool.stats.batches < 600 / 10, `requests of one turn go out in batches (${pool.stats.batches} batches for 600)`);
  assert.equal(pool.running, 2);
});

test('a crashed verify thread is replaced and its unanswered batches are verified by the new one', TIMEOUT, async (t) => {
  const pool = new VerifyPool(1);
  t.after(() => pool.close());
  const first = samples(3);
  assert.deepEqual(await Promise.all(first.map((s) => pool.verify(s.message, s.sig, s.pubkey))), first.map((s) => s.valid));
  const before = workerThreads();

  // Queue a batch, let it leave for the thread, then kill the thread under it.
  const items = samples(300);
  const pending = Promise.all(items.map((s) => pool.verify(s.message, s.sig, s.pubkey)));
  await new Promise((r) => setImmediate(r));
  assert.equal(await pool.crashThread(0), true);
  assert.deepEqual(await pending, items.map((s) => s.valid), 'every item is answered, and correctly, after the crash');
  assert.equal(pool.stats.crashes, 1);
  assert.equal(pool.running, 1, 'a new thread took the place of the dead one');
  await until('the dead thread to be gone and one thread to run', () => workerThreads() === before);
});

test('threads that cannot start do not stop verification: after two exits the event loop verifies the batch', TIMEOUT, async (t) => {
  const pool = new VerifyPool(1, undefined, new URL('file:///nonexistent/plexus/verify-worker.js'));
  t.after(() => pool.close());
  const items = samples(30);
  assert.deepEqual(await Promise.all(items.map((s) => pool.verify(s.message, s.sig, s.pubkey))), items.map((s) => s.valid));
  assert.equal(pool.stats.crashes, 2, 'the first thread and its replacement');
});

test('close ends every thread and refuses what is still asked with ERR_UNAVAILABLE', TIMEOUT, async () => {
  const before = workerThreads();
  const pool = new VerifyPool(2);
  const s = samples(2);
  await Promise.all(s.map((x) => pool.verify(x.message, x.sig, x.pubkey)));
  await until('two more worker threads', () => workerThreads() === before + 2);
  await pool.close();
  await until('the threads to end', () => workerThreads() === before);
  await rejectsWithCode(() => pool.verify(s[0]!.message, s[0]!.sig, s[0]!.pubkey), 'ERR_UNAVAILABLE');
});

const PROTOCOL = protocolId('verifytest', 1);

function methods(counter: { runs: number }): RpcMethods {
  return {
    set: {
      mutating: true,
      params: z.strictObject({ value: z.number() }),
      async handler(p, call) {
        counter.runs++;
        return { value: (p as { value: number }).value, signer: call.signer };
      },
    },
  };
}

test('over RPC with verify threads: a good signature runs the method, a bad one is refused with its code and runs nothing, a replay too', TIMEOUT, async (t) => {
  const server = await createP2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
  const rpc = new RpcServer(server, { maxFrameBytes: 4096, maxClockSkewMs: 30_000, maxInFlightPerStream: 16, rateLimit: { perSecond: 0, burst: 1 }, verifyThreads: 2 }, silentLogger());
  t.after(async () => {
    await server.stop();
    await rpc.close();
  });
  const counter = { runs: 0 };
  await rpc.serve(PROTOCOL, methods(counter), silentLogger(), 'verifytest');
  const key = generateKeyPair();
  const client = await RpcClient.connect(server.getMultiaddrs()[0]!.toString(), { key, timeoutMs: 10_000 });
  t.after(() => client.close());

  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => client.call<{ value: number; signer: string }>(PROTOCOL, 'set', { value: i }, { signed: true })));
  assert.deepEqual(answers.map((a) => a.value), Array.from({ length: 50 }, (_, i) => i));
  assert.ok(answers.every((a) => a.signer === toHex(key.publicKey)));
  assert.equal(counter.runs, 50);
  assert.equal(rpc.stats.verifyPool?.verified, 50);

  // A signature over other params: the raw frame carries the auth of {value: 1} with {value: 2}.
  const audience = client.remotePeer;
  const auth = signRequest({ protocol: PROTOCOL, audience, method: 'set', params: { value: 1 } }, key);
  const answer = new Promise<{ error?: { code: string } }>((resolve) => (client.onUnmatched = (a) => resolve(a as { error?: { code: string } })));
  const { encodeFrame } = await import('../src/rpc/frame.js');
  await client.sendRaw(PROTOCOL, encodeFrame({ id: 'forged', method: 'set', params: { value: 2 }, auth }));
  assert.equal((await answer).error?.code, 'ERR_SIGNATURE_INVALID');
  assert.equal(counter.runs, 50, 'the forged request ran nothing');

  // The same signed request twice: the second is a replay.
  const good = signRequest({ protocol: PROTOCOL, audience, method: 'set', params: { value: 3 } }, key);
  const two: { id: unknown; error?: { code: string } }[] = [];
  const both = new Promise<void>((resolve) => {
    client.onUnmatched = (a) => {
      two.push(a as { id: unknown; error?: { code: string } });
      if (two.length === 2) resolve();
    };
  });
  await client.sendRaw(PROTOCOL, Buffer.concat([encodeFrame({ id: 'r1', method: 'set', params: { value: 3 }, auth: good }), encodeFrame({ id: 'r2', method: 'set', params: { value: 3 }, auth: good })]));
  await both;
  assert.deepEqual(two.map((a) => a.error?.code ?? 'OK').sort(), ['ERR_REPLAY', 'OK']);
  assert.equal(counter.runs, 51);
});

test('the verify threads end with the node that started them', TIMEOUT, async (t) => {
  const dir = await tempDir(t);
  const counter = { runs: 0 };
  const plugin: PluginDefinition<unknown> = definePlugin<unknown>({
    name: 'verifytest',
    version: '0.0.0',
    description: 'serves one signed method',
    provides: [],
    requires: [],
    configSchema: z.strictObject({}),
    create: (ctx) => ({
      start: () => ctx.rpc.serve(PROTOCOL, methods(counter)),
      stop: () => ctx.rpc.unserve(PROTOCOL),
    }),
  });
  // The config must name a plugin to parse; the node then runs only the test's own.
  const config = await parseConfig(`node:\n  listen: [/ip4/127.0.0.1/tcp/0]\n  rpc:\n    verifyThreads: 2\nplugins:\n  store: {}\n`, `${dir}/node.yaml`, dir);
  config.plugins.splice(0, config.plugins.length, { key: 'verifytest', definition: plugin, config: {} });
  const before = workerThreads();
  const node = new PlexusNode(config, silentLogger());
  await node.start();
  let stopped = false;
  t.after(async () => {
    if (!stopped) await node.stop();
  });
  const client = await RpcClient.connect(node.multiaddrs()[0]!, { key: generateKeyPair(), timeoutMs: 10_000 });
  t.after(() => client.close());
  await client.call(PROTOCOL, 'set', { value: 7 }, { signed: true });
  assert.equal(counter.runs, 1);
  await until('the node to run its two verify threads', () => workerThreads() === before + 2);
  await node.stop();
  stopped = true;
  await until('the verify threads to end with the node', () => workerThreads() === before);
});
