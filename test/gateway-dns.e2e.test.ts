import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { killAllNodes, removeDir, tempDir } from './lib/harness.js';
import { PUBLIC_IP, ZONE, startGatewayNode, type GatewayNode } from './lib/gateway-node.js';

/**
 * DNS data fidelity, end to end: a real node (store, phonebook, gateway, dns), the real CLI, the
 * real `dig`. A write that creates a deeper zone hash (expose --ip, or a record asked for in the
 * name's own hash) must leave every name that resolved before resolving, and a CNAME never
 * shares its name with other data.
 */
describe('no record is ever shadowed by a deeper zone hash', () => {
  let dir: string;
  let gw: GatewayNode;

  /** What resolved before the hash-creating writes; must resolve the same after each of them. */
  const RESOLVING: [string, string, string][] = [
    [`www.alice.${ZONE}`, 'A', '10.0.0.1'],
    [`_acme-challenge.alice.${ZONE}`, 'TXT', '"token-a"'],
    [`x.alice.${ZONE}`, 'A', '10.0.0.2'], // from *.alice
    [`y.frank.${ZONE}`, 'A', '10.0.0.4'], // from *.frank
    [`bob.${ZONE}`, 'A', '10.0.0.5'],
  ];

  async function allStillResolve(): Promise<void> {
    for (const [name, type, want] of RESOLVING) assert.equal(await gw.digUntil(name, type, (a) => a === want), want, `${name} ${type}`);
  }

  async function ok(args: string[], who: string): Promise<void> {
    const r = await gw.cli(args, who);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}\n--- node:\n${gw.node.stderr.slice(-3000)}`);
  }

  before(async () => {
    dir = await tempDir('plexus-gateway-dns-e2e-');
    gw = await startGatewayNode(dir);
    for (const who of ['alice', 'frank', 'bob']) await ok(['phonebook', 'register', '--name', who, '--email', `${who}@example.org`], who);
    await ok(['gateway', 'register-a', '--name', 'www.alice', '--ip', '10.0.0.1'], 'alice');
    await ok(['gateway', 'register-txt', '--name', '_acme-challenge.alice', '--text', 'token-a'], 'alice');
    await ok(['gateway', 'register-a', '--name', '*.alice', '--ip', '10.0.0.2'], 'alice');
    await ok(['gateway', 'register-a', '--name', 'frank', '--ip', '10.0.0.3'], 'frank');
    await ok(['gateway', 'register-a', '--name', '*.frank', '--ip', '10.0.0.4'], 'frank');
    await ok(['gateway', 'register-a', '--name', 'bob', '--ip', '10.0.0.5'], 'bob');
    await allStillResolve();
  });

  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('expose --ip: A, TXT, wildcard and _acme-challenge below the name still resolve; the name is the CNAME', async () => {
    await ok(['gateway', 'expose', '--name', 'alice', '--ip', '10.2.0.5'], 'alice');
    assert.equal(await gw.digUntil(`alice.${ZONE}`, 'A', (a) => a.includes(PUBLIC_IP)), `${ZONE}.\n${PUBLIC_IP}`);
    await allStillResolve();
    // `gateway list` shows what DNS answers: every field in alice's own hash, none shadowed.
    const listed = await gw.cli(['gateway', 'list', '--name', 'alice']);
    const dns = (listed.json.entries as { kind: string; fqdn: string; domain: string; shadowedBy?: string }[]).filter((e) => e.kind === 'dns');
    assert.deepEqual(dns.map((e) => e.fqdn).sort(), [`*.alice.${ZONE}`, `_acme-challenge.alice.${ZONE}`, `alice.${ZONE}`, `www.alice.${ZONE}`]);
    assert.ok(dns.every((e) => e.domain === `alice.${ZONE}` && e.shadowedBy === undefined), JSON.stringify(dns));
  });

  test('expose --ip on a name with its own address: ERR_CNAME_CONFLICT, nothing changes; --replace swaps it', async () => {
    const refused = await gw.cli(['gateway', 'expose', '--name', 'frank', '--ip', '10.2.0.6'], 'frank');
    assert.equal(refused.code, 1);
    assert.equal(refused.json.error.code, 'ERR_CNAME_CONFLICT');
    assert.equal(await gw.dig(`frank.${ZONE}`), '10.0.0.3');
    await ok(['gateway', 'expose', '--name', 'frank', '--ip', '10.2.0.6', '--replace'], 'frank');
    assert.equal(await gw.digUntil(`frank.${ZONE}`, 'A', (a) => a.includes(PUBLIC_IP)), `${ZONE}.\n${PUBLIC_IP}`);
    await allStillResolve();
    // Data beside the expose CNAME is refused from now on (RFC 1034 §3.6.2).
    const beside = await gw.cli(['gateway', 'register-txt', '--name', 'frank', '--text', 'hello'], 'frank');
    assert.equal(beside.json.error.code, 'ERR_CNAME_CONFLICT');
  });

  test("a record asked for in the name's own hash keeps the name's A (no NODATA)", async () => {
    await ok(['gateway', 'register-txt', '--name', '_acme-challenge', '--domain', `bob.${ZONE}`, '--text', 'token-b'], 'bob');
    assert.equal(await gw.digUntil(`_acme-challenge.bob.${ZONE}`, 'TXT', (a) => a !== ''), '"token-b"');
    await allStillResolve();
    assert.equal(await gw.redis('HEXISTS', `${ZONE}.`, 'bob'), '0', 'moved into bob.threebot.gateway.tf., not left behind');
  });
});
