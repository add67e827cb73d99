import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Libp2p } from 'libp2p';
import { RpcClient, generateKeyPair, type RpcResponseFrame } from '@plexus/core';
import { startRedis, type RedisServer } from '@plexus/core/testing';
import { runCli } from '../lib/harness.js';
import { Canary, assertCanary, describeCanary } from './lib/canary.js';
import { ATTACKER_IP, HELLO, PHONEBOOK, Target } from './lib/target.js';
import { clientNode, header } from './lib/wire.js';

/** Sends a frame whose JSON text is given verbatim (so it may hold `1e400`) and resolves with the answer to `id`. */
function exchangeText(client: RpcClient, protocol: string, id: string, json: string): Promise<RpcResponseFrame> {
  return new Promise((resolve, reject) => {
    client.onUnmatched = (answer) => {
      if (answer.id === id) resolve(answer);
    };
    const body = Buffer.from(json, 'utf8');
    client.sendRaw(protocol, Buffer.concat([header(body.length), body])).catch(reject);
  });
}

/** A well-formed auth block whose signature cannot verify: the params must be refused before it is looked at. */
function dummyAuth(): string {
  return JSON.stringify({ pubkey: 'a'.repeat(64), ts: Date.now(), nonce: 'b'.repeat(32), sig: 'c'.repeat(128) });
}

/** Issue point 9: client input never yields ERR_INTERNAL or an error log; an outage is ERR_UNAVAILABLE. */
describe('attack: hostile params and a store outage', { timeout: 90_000 }, () => {
  let redis: RedisServer;
  let target: Target;
  let node: Libp2p;
  let client: RpcClient;
  before(async () => {
    redis = await startRedis({ tmpPrefix: 'plexus-attack-redis-' });
    target = await Target.start({ store: `{ mode: external, url: "redis://127.0.0.1:${redis.port}" }` });
    node = await clientNode(ATTACKER_IP);
    client = await RpcClient.connect(target.multiaddr, { libp2p: node, key: generateKeyPair(), timeoutMs: 10_000 });
  });
  after(async () => {
    await client?.close();
    await node?.stop();
    await target?.stop();
    await redis?.stop();
  });

  const errorLogs = (): Record<string, any>[] => target.logLines().filter((l) => typeof l.level === 'number' && l.level >= 50);

  test('1e400 and params nested 200 deep, signed or not, are ERR_PARAMS_INVALID with no error log; the canary is served', async (t) => {
    const canary = await Canary.start(target.multiaddr, t);
    const deep = `${'['.repeat(200)}${']'.repeat(200)}`;
    const cases: [string, string, string][] = [
      [HELLO, 'inf-signed', `{"id":"inf-signed","method":"greet","params":{"name":1e400},"auth":${dummyAuth()}}`],
      [HELLO, 'deep-signed', `{"id":"deep-signed","method":"greet","params":{"name":${deep}},"auth":${dummyAuth()}}`],
      [PHONEBOOK, 'inf-read', `{"id":"inf-read","method":"get","params":{"tid":1e400}}`],
      [PHONEBOOK, 'deep-read', `{"id":"deep-read","method":"get","params":{"name":${deep}}}`],
    ];
    // Repeated, so the canary runs beside a sustained stream of them.
    for (let round = 0; round < 50; round++) {
      for (const [protocol, id, json] of cases) {
        const answer = await exchangeText(client, protocol, id, json);
        assert.equal('error' in answer && answer.error.code, 'ERR_PARAMS_INVALID', `${id}: ${JSON.stringify(answer)}`);
      }
    }
    const report = await canary.stop();
    t.diagnostic(describeCanary(report));
    assertCanary(report, { fresh: 5, open: 20 });
    assert.deepEqual(errorLogs(), []);
    const status = await runCli(['status', '--config', target.configFile, '--json']);
    assert.equal(status.json.rpc.errors.ERR_INTERNAL, undefined, JSON.stringify(status.json.rpc));
  });

  test('while redis is down, reads and signed writes get ERR_UNAVAILABLE, logged as a warning, not an error', async () => {
    await redis.stop();
    for (let i = 0; i < 20; i++) {
      await assert.rejects(client.call(PHONEBOOK, 'get', { name: 'someone' }), (err: { code?: string }) => err.code === 'ERR_UNAVAILABLE');
      await assert.rejects(client.call(HELLO, 'greet', { name: 'someone' }, { signed: true }), (err: { code?: string }) => err.code === 'ERR_UNAVAILABLE');
    }
    assert.deepEqual(errorLogs(), []);
    const warnings = target.logLines().filter((l) => l.msg === 'rpc requests fail: a backing service is unavailable');
    assert.equal(warnings.length, 1, 'one warning for the outage, not one per request');
  });
});
