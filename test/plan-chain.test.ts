import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { removeDir, runCli, tempDir } from './lib/harness.js';

/**
 * A plan's `replicaOf` on dns nodes (chained replicas, as the scale run uses): the errors of a bad
 * chain, and a rendered chain in which each replica follows its upstream's address, port and
 * password, and a store that feeds another listens where that one can reach it, with a password.
 */
const HEAD = `network: { name: chain, zones: [gateway.tf] }
machines:
  m0: { address: 10.70.0.1 }
  m1: { address: 10.70.0.11 }
  m2: { address: 10.70.0.12 }
  m3: { address: 10.70.0.13 }
  m4: { address: 10.70.0.21 }
`;

describe('plan replicaOf: chained dns replicas', () => {
  let dir: string;
  before(async () => (dir = await tempDir('plexus-plan-chain-')));
  after(async () => removeDir(dir));

  test('bad chains: each error at its key, exit 2, nothing written', async () => {
    const plan = join(dir, 'bad.yaml');
    await writeFile(
      plan,
      `${HEAD}nodes:
  explorer: { machine: m0, role: explorer, replicaOf: dns1 }
  dns1: { machine: m1, role: dns, replicaOf: host1 }
  dns2: { machine: m2, role: dns, replicaOf: dns3 }
  dns3: { machine: m3, role: dns, replicaOf: dns2 }
  host1: { machine: m4, role: host }
`,
    );
    const out = join(dir, 'bad-out');
    const r = await runCli(['render', '--plan', plan, '--out', out]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /PLAN: nodes\.explorer\.replicaOf: only a dns node replicates another store/);
    assert.match(r.stderr, /PLAN: nodes\.dns1\.replicaOf: expected a dns node or the explorer, got 'host1'/);
    assert.match(r.stderr, /PLAN: nodes\.dns2\.replicaOf: replicaOf makes a cycle \(dns2 -> dns3 -> dns2\)/);
    assert.match(r.stderr, /PLAN: nodes\.dns3\.replicaOf: replicaOf makes a cycle/);
    await assert.rejects(stat(out), 'nothing is written for an invalid plan');

    const unknown = join(dir, 'unknown.yaml');
    await writeFile(unknown, `${HEAD}nodes:\n  explorer: { machine: m0, role: explorer }\n  dns1: { machine: m1, role: dns, replicaOf: nobody }\n  dns2: { machine: m2, role: dns, replicaOf: dns2 }\n`);
    const u = await runCli(['render', '--plan', unknown, '--out', out]);
    assert.equal(u.code, 2, u.stdout + u.stderr);
    assert.match(u.stderr, /PLAN: nodes\.dns1\.replicaOf: expected a dns node or the explorer, got 'nobody'/);
    assert.match(u.stderr, /PLAN: nodes\.dns2\.replicaOf: a node cannot replicate itself/);
  });

  test('a chain over a store network is refused (the wireguard plugin follows the explorer only)', async () => {
    const plan = join(dir, 'wg.yaml');
    await writeFile(plan, `${HEAD}networks:\n  redis: { cidr: 10.1.0.0/24, store: true }\nnodes:\n  explorer: { machine: m0, role: explorer }\n  dns1: { machine: m1, role: dns, replicaOf: explorer }\n  dns2: { machine: m2, role: dns, replicaOf: dns1 }\n`);
    const r = await runCli(['render', '--plan', plan, '--out', join(dir, 'wg-out')]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /PLAN: nodes\.dns2\.replicaOf: a chained replica \(of a dns node\) needs a plan without a store network/);
    assert.doesNotMatch(r.stderr, /nodes\.dns1\.replicaOf/, 'naming the explorer is always fine');
  });

  test('rendered chain: upstream address, port and password; the feeding store binds its address', async () => {
    const plan = join(dir, 'chain.yaml');
    await writeFile(
      plan,
      `${HEAD}nodes:
  explorer: { machine: m0, role: explorer }
  dns1: { machine: m1, role: dns, router: false }
  dns2: { machine: m2, role: dns, router: false, replicaOf: dns1 }
  dns3: { machine: m3, role: dns, router: false, replicaOf: dns2, ports: { replica: 6390 } }
`,
    );
    const out = join(dir, 'out');
    const r = await runCli(['render', '--plan', plan, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const store = async (n: string): Promise<Record<string, any>> => (parse(await readFile(join(out, n, 'plexus.yaml'), 'utf8')) as any).plugins.store;
    const secret = async (n: string, f: string): Promise<string> => (await readFile(join(out, n, 'secrets', f), 'utf8')).trim();

    const [s1, s2, s3] = [await store('dns1'), await store('dns2'), await store('dns3')];
    assert.deepEqual(s1.replicaOf, { host: '10.70.0.1', port: 6378, passwordFile: 'secrets/master.password' }, 'dns1 follows the explorer');
    assert.deepEqual(s2.replicaOf, { host: '10.70.0.11', port: 6379, passwordFile: 'secrets/master.password' }, "dns2 follows dns1's replica port, not the explorer's 6378");
    assert.deepEqual(s3.replicaOf, { host: '10.70.0.12', port: 6379, passwordFile: 'secrets/master.password' });
    assert.equal(s1.bind, '10.70.0.11', 'dns1 feeds dns2: it listens on its address');
    assert.equal(s2.bind, '10.70.0.12');
    assert.equal(s3.bind, '127.0.0.1', 'the end of the chain stays on loopback');
    assert.equal(s3.port, 6390, 'a node may override one port and keep the defaults of the others');
    for (const s of [s1, s2, s3]) assert.equal(s.passwordFile, 'secrets/store.password', 'every store that listens has a password');

    // Each replica authenticates with its upstream's own password, never the explorer's.
    assert.equal(await secret('dns1', 'master.password'), await secret('explorer', 'store.password'));
    assert.equal(await secret('dns2', 'master.password'), await secret('dns1', 'store.password'));
    assert.equal(await secret('dns3', 'master.password'), await secret('dns2', 'store.password'));
    assert.notEqual(await secret('dns2', 'master.password'), await secret('explorer', 'store.password'));
    assert.equal((await stat(join(out, 'dns2', 'secrets', 'master.password'))).mode & 0o777, 0o600);

    const conf = await readFile(join(out, 'dns2', 'redis.conf'), 'utf8');
    assert.match(conf, /^bind 10\.70\.0\.12$/m);
    assert.match(conf, /^replicaof 10\.70\.0\.11 6379$/m);
    assert.match(conf, new RegExp(`^masterauth ${await secret('dns1', 'store.password')}$`, 'm'));

    const check = await runCli(['check-config', '--config', join(out, 'dns2', 'plexus.yaml')]);
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });
});
