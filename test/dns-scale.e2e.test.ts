import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { killAllNodes, removeDir, runCli, tempDir } from './lib/harness.js';
import { ZONE, startGatewayNode, type GatewayNode } from './lib/gateway-node.js';

/**
 * The change stream end to end: a real node (store, phonebook, gateway, dns), the real CLI, the
 * real `dig`. Gateway writes reach DNS through the stream (one field read each, never the whole
 * hash); an operator's `redis-cli HSET` is still answered; `plexus status` shows the view's lag.
 */
describe('DNS follows the gateway change stream', () => {
  let dir: string;
  let gw: GatewayNode;

  const dnsStatus = async (): Promise<Record<string, any>> => {
    const r = await runCli(['status', '--config', gw.node.configFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (r.json.plugins as Record<string, any>).dns?.status ?? (r.json.plugins as Record<string, any>).dns;
  };

  before(async () => {
    dir = await tempDir('plexus-dns-scale-e2e-');
    gw = await startGatewayNode(dir);
    const r = await gw.cli(['phonebook', 'register', '--name', 'alice', '--email', 'alice@example.org'], 'alice');
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('registrations are applied from the stream; a hand-written HSET re-reads only its hash', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await gw.cli(['gateway', 'register-a', '--name', `w${i}.alice`, '--ip', `10.0.0.${i + 1}`], 'alice');
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(await gw.digUntil(`w${i}.alice.${ZONE}`, 'A', (a) => a === `10.0.0.${i + 1}`), `10.0.0.${i + 1}`);
    }
    // A deeper hash (the split moves w0..w4 into alice's own hash): named in the stream as well.
    const exposed = await gw.cli(['gateway', 'register-a', '--name', 'x', '--domain', `alice.${ZONE}`, '--ip', '10.0.1.1'], 'alice');
    assert.equal(exposed.code, 0, exposed.stdout + exposed.stderr);
    assert.equal(await gw.digUntil(`x.alice.${ZONE}`, 'A', (a) => a === '10.0.1.1'), '10.0.1.1');
    for (let i = 0; i < 5; i++) assert.equal(await gw.dig(`w${i}.alice.${ZONE}`), `10.0.0.${i + 1}`);
    const s = await dnsStatus();
    assert.ok(s.cache.streamEntries >= 6, JSON.stringify(s.cache));
    assert.equal(s.cache.keyRereads, 0, 'no hash was re-read for a gateway write');
    assert.equal(s.cache.ready, true);
    assert.deepEqual(s.cache.lag, { changes: 0, ms: 0 });
    assert.equal(typeof s.eventLoopDelayMs.max, 'number');

    await gw.redis('HSET', `${ZONE}.`, 'handmade', JSON.stringify({ a: [{ ip: '10.9.9.9' }] }));
    assert.equal(await gw.digUntil(`handmade.${ZONE}`, 'A', (a) => a === '10.9.9.9'), '10.9.9.9');
    assert.ok((await dnsStatus()).cache.keyRereads >= 1);
  });
});
