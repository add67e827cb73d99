import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Libp2p } from 'libp2p';
import { RpcClient, encodeFrame, generateKeyPair, signRequest, type Ed25519KeyPair, type RpcRequestFrame, type RpcResponseFrame } from '@plexus/core';
import { Canary, assertCanary, describeCanary } from './lib/canary.js';
import { ATTACKER_IP, HELLO, Target } from './lib/target.js';
import { clientNode } from './lib/wire.js';

/** A client of its own (new peer id) from the attacker's address; closed when the test ends. */
async function peer(t: { after(fn: () => unknown): void }, target: Target): Promise<RpcClient> {
  const node: Libp2p = await clientNode(ATTACKER_IP);
  const client = await RpcClient.connect(target.multiaddr, { libp2p: node, timeoutMs: 10_000 });
  t.after(async () => {
    await client.close();
    await node.stop();
  });
  return client;
}

/** A signed `greet` built by hand, so its timestamp is ours to choose and the frame can be replayed. */
function signedGreet(target: Target, key: Ed25519KeyPair, id: string, ts: number): RpcRequestFrame {
  const params = { name: 'victim' };
  const audience = target.multiaddr.split('/p2p/')[1]!;
  return { id, method: 'greet', params, auth: signRequest({ protocol: HELLO, audience, method: 'greet', params }, key, ts) };
}

/** Sends one frame as raw bytes and resolves with the answer to its id. */
function exchange(client: RpcClient, frame: RpcRequestFrame): Promise<RpcResponseFrame> {
  return new Promise((resolve, reject) => {
    client.onUnmatched = (answer) => {
      if (answer.id === frame.id) resolve(answer);
    };
    client.sendRaw(HELLO, encodeFrame(frame)).catch(reject);
  });
}

function codeOf(answer: RpcResponseFrame): string {
  return 'error' in answer ? answer.error.code : 'ok';
}

/** `error.data.notBefore` of an ERR_TIMESTAMP_STALE answer. */
function notBeforeOf(answer: RpcResponseFrame): number {
  return 'error' in answer ? Number(answer.error.data?.notBefore) : NaN;
}

/** Issue point 4: a request signed ahead of time, captured and replayed after a restart. */
describe('attack: replay after a restart, default limits', { timeout: 90_000 }, () => {
  let target: Target;
  before(async () => {
    target = await Target.start();
  });
  after(async () => {
    await target?.stop();
  });

  test('a request signed 25 s ahead is refused (rpc.maxForwardSkewMs 5 s); 4 s ahead runs once, and not again after a crash', async (t) => {
    const canary = await Canary.start(target.multiaddr, t);
    const key = generateKeyPair();
    const victim = await peer(t, target);
    // 300 requests signed 25 s ahead, each with its own nonce: every one refused, none ran.
    const codes = new Set<string>();
    for (let i = 0; i < 300; i++) codes.add(codeOf(await exchange(victim, signedGreet(target, key, `a25-${i}`, Date.now() + 25_000))));
    assert.deepEqual([...codes], ['ERR_TIMESTAMP_STALE']);
    const report = await canary.stop();
    t.diagnostic(describeCanary(report));
    assertCanary(report, { fresh: 3, open: 10 });

    const captured = signedGreet(target, key, 'a4', Date.now() + 4000);
    assert.deepEqual((await exchange(victim, captured)) as unknown, { id: 'a4', result: { text: 'hello, victim', count: 1 } });
    await target.restart('crash');
    const thief = await peer(t, target);
    const replayed = await exchange(thief, captured);
    t.diagnostic(`replayed ${Date.now() - captured.auth!.ts} ms after its ts: ${JSON.stringify(replayed)}`);
    assert.equal(codeOf(replayed), 'ERR_TIMESTAMP_STALE');
  });
});

describe('attack: replay after a restart, a wide forward skew (20 s) so every restart falls inside the window', { timeout: 90_000 }, () => {
  let target: Target;
  before(async () => {
    target = await Target.start({ nodeExtra: '  rpc: { maxForwardSkewMs: 20000 }' });
  });
  after(async () => {
    await target?.stop();
  });

  for (const how of ['crash', 'graceful'] as const) {
    test(`a request signed 15 s ahead, run, then replayed by another peer after a ${how} restart: refused, the write happened once`, async (t) => {
      const key = generateKeyPair();
      const victim = await peer(t, target);
      const captured = signedGreet(target, key, `w-${how}`, Date.now() + 15_000);
      const first = await exchange(victim, captured);
      assert.equal((first as { result: { count: number } }).result.count, 1);
      await target.restart(how);
      const thief = await peer(t, target);
      // Still ahead of the clock: the old rule (nothing signed before the restart) let it through.
      assert.ok(Date.now() < captured.auth!.ts, 'the restart took longer than the window this test needs');
      const replayed = await exchange(thief, captured);
      assert.equal(codeOf(replayed), 'ERR_TIMESTAMP_STALE', JSON.stringify(replayed));
      assert.ok(notBeforeOf(replayed) > captured.auth!.ts);
      // The same key signing afresh at the window's end (still within the forward skew) counts 2:
      // the replay never ran.
      const fresh = signedGreet(target, key, `f-${how}`, notBeforeOf(replayed));
      assert.equal(((await exchange(thief, fresh)) as { result: { count: number } }).result.count, 2);
    });
  }
});
