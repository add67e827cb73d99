import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Canary, assertCanary, describeCanary } from './lib/canary.js';
import { killAttacks, runAttack } from './lib/spawn-attack.js';
import type { PeerFloodResult } from './lib/attack-streams.js';
import { ATTACKER_IP, PHONEBOOK, RSS_LIMIT_MB, RssWatch, Target, attackerIps } from './lib/target.js';

/** Issue point 8: peer ids are free, so the per-peer rate limit needs a per-address one beside it. */
describe('attack: more peer ids from one address to get past the rate limit', { timeout: 90_000 }, () => {
  let target: Target;
  before(async () => {
    target = await Target.start();
  });
  after(async () => {
    killAttacks();
    await target?.stop();
  });

  test('4 peers x 3000 requests from one address are served no more than 1 peer x 12000 (rpc.rateLimit.perHost*); the canary elsewhere is not limited', async (t) => {
    const flood = (from: string, peers: number): Promise<PeerFloodResult> =>
      runAttack<PeerFloodResult>(
        'peerFlood',
        { target: target.multiaddr, from, peers, requestsPerPeer: 12_000 / peers, protocol: PHONEBOOK, method: 'get', params: { name: 'nobody' } },
        60_000,
      );
    // What one peer id gets, from an address of its own (so both start with full buckets).
    const single = await flood(attackerIps(1)[0]!, 1);
    const canary = await Canary.start(target.multiaddr, t);
    const rss = new RssWatch(target.pid);
    const many = await flood(ATTACKER_IP, 4);
    const peak = await rss.stop();
    const report = await canary.stop();
    assert.ok(peak < RSS_LIMIT_MB, `RSS ${peak} MB`);
    // Defaults: 2000/s per address, burst 4000.
    const allowed = 4000 + (2000 * many.elapsedMs) / 1000;
    t.diagnostic(`1 peer ${JSON.stringify(single)}; 4 peers ${JSON.stringify(many)} (host allowance ${allowed.toFixed(0)}); RSS peak ${peak.toFixed(0)} MB; ${describeCanary(report)}`);
    assert.equal(many.failed + single.failed, 0, 'every request was answered');
    // Generous: the refill both get depends on how long the node takes to read 12000 requests.
    assert.ok(many.served <= single.served * 1.5 + 500, `4 peers got ${many.served} of 12000 served, 1 peer ${single.served}`);
    assert.ok(many.served <= allowed * 1.05 + 50, `${many.served} of 12000 served from one address`);
    assert.ok(many.limited > 0, 'refused with ERR_RATE_LIMITED');
    assertCanary(report, { fresh: 5, open: 20 });
  });
});
