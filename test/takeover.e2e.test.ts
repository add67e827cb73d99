import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { killAllNodes, removeDir, runCli, tempDir } from './lib/harness.js';
import { ZONE, startGatewayNode, type GatewayNode } from './lib/gateway-node.js';

/**
 * Subdomain takeover (hardening issue, point 1): a phonebook name may contain dots, so an attacker
 * used to register `www.bob` with their own key and then own bob's `www` at the gateway. A real
 * node, the real CLI with two keys, and `dig` checking that the victim's records still answer.
 */
describe('a name below somebody else’s name cannot be taken', () => {
  let dir: string;
  let gw: GatewayNode;

  before(async () => {
    dir = await tempDir('plexus-takeover-e2e-');
    gw = await startGatewayNode(dir);
    for (const args of [
      ['phonebook', 'register', '--name', 'bob', '--email', 'bob@example.org'],
      ['gateway', 'register-a', '--name', 'www.bob', '--ip', '10.0.0.10'],
      ['gateway', 'register-txt', '--name', '_acme-challenge.www.bob', '--text', 'bob-token'],
    ]) {
      const r = await gw.cli(args, 'bob');
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    assert.equal(await gw.digUntil(`www.bob.${ZONE}`, 'A', (a) => a === '10.0.0.10'), '10.0.0.10');
  });

  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  async function victimStillAnswers(): Promise<void> {
    assert.equal(await gw.dig(`www.bob.${ZONE}`, 'A'), '10.0.0.10');
    assert.equal(await gw.dig(`_acme-challenge.www.bob.${ZONE}`, 'TXT'), '"bob-token"');
  }

  test('the attacker cannot register www.bob, nor change www.bob or _acme-challenge.www.bob at the gateway', async () => {
    const taken = await gw.cli(['phonebook', 'register', '--name', 'www.bob', '--email', 'eve@example.org'], 'eve');
    assert.equal(taken.code, 1);
    assert.equal(taken.json.error.code, 'ERR_FORBIDDEN');
    assert.equal(taken.json.error.data.conflict.name, 'bob');
    const deeper = await gw.cli(['phonebook', 'register', '--name', 'acme.www.bob', '--email', 'eve@example.org'], 'eve');
    assert.equal(deeper.json.error.code, 'ERR_FORBIDDEN');
    // Without --json the refusal says what to do (the hint travels in the error's data).
    const human = await runCli(['phonebook', 'register', '--name', 'www.bob', '--email', 'eve@example.org', '--key', join(dir, 'eve.key'), '--explorer', gw.node.multiaddr]);
    assert.equal(human.code, 1);
    assert.match(human.stderr, /^plexus: ERR_FORBIDDEN: .*\n  hint: only the key that owns 'bob' may register names below it/m);

    // The attacker holds a name of their own, so their key is known to the phonebook.
    assert.equal((await gw.cli(['phonebook', 'register', '--name', 'eve', '--email', 'eve@example.org'], 'eve')).code, 0);
    const attempts: string[][] = [
      ['gateway', 'delete', '--name', 'www.bob'],
      ['gateway', 'register-a', '--name', 'www.bob', '--ip', '6.6.6.6', '--replace'],
      ['gateway', 'register-txt', '--name', '_acme-challenge.www.bob', '--text', 'eve-token'],
      ['gateway', 'service', '--domain', `www.bob.${ZONE}`, '--ip', '6.6.6.6'],
    ];
    for (const args of attempts) {
      const r = await gw.cli(args, 'eve');
      assert.equal(r.json?.error?.code, 'ERR_FORBIDDEN', `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    await victimStillAnswers();
  });

  test('registering a name above another key’s name is refused too, naming the conflict', async () => {
    assert.equal((await gw.cli(['phonebook', 'register', '--name', 'www.carol', '--email', 'eve@example.org'], 'eve')).code, 0);
    const r = await gw.cli(['phonebook', 'register', '--name', 'carol', '--email', 'carol@example.org'], 'carol');
    assert.equal(r.code, 1);
    assert.equal(r.json.error.code, 'ERR_FORBIDDEN');
    assert.deepEqual(r.json.error.data.conflict, { name: 'www.carol', relation: 'below' });
  });

  test('a takeover name registered before the rule: reported by `phonebook check`, powerless at the gateway', async () => {
    const clean = await gw.cli(['phonebook', 'check']);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.deepEqual(clean.json.conflicts, []);
    // What an older phonebook let the attacker store: the name www.bob with the attacker's key.
    const eve = (await gw.cli(['phonebook', 'get', 'eve'])).json as { pubkey: string };
    const tid = await gw.redis('INCR', 'phonebook:seq');
    await gw.redis('HSET', `phonebook:user:${tid}`, 'tid', tid, 'name', 'www.bob', 'email', 'eve@example.org', 'pubkey', eve.pubkey, 'wallet_name', '', 'ipaddr', '', 'description', '', 'created', '0', 'updated', '0');
    await gw.redis('SET', 'phonebook:name:www.bob', tid);
    await gw.redis('ZADD', 'phonebook:tids', tid, tid);
    const report = await gw.cli(['phonebook', 'check']);
    assert.equal(report.code, 1, 'conflicts make the check fail');
    assert.deepEqual(
      (report.json.conflicts as { name: string; pubkey: string; under: { name: string } }[]).map((c) => [c.name, c.pubkey, c.under.name]),
      [['www.bob', eve.pubkey, 'bob']],
    );
    const r = await gw.cli(['gateway', 'register-a', '--name', 'www.bob', '--ip', '6.6.6.6'], 'eve');
    assert.equal(r.json.error.code, 'ERR_FORBIDDEN');
    assert.equal(r.json.error.data.name, 'bob', 'the highest registered name owns it');
    await victimStillAnswers();
  });
});
