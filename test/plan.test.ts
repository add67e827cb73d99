import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, copyFile, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT, removeDir, runCli, tempDir } from './lib/harness.js';

/**
 * `plexus render`: the plan's errors (collected, exit 2, `PLAN: key.path: ...`), and every file of
 * a render of the seed plan: configs that pass `plexus check-config`, secrets only in 0600 files,
 * the same secrets on a second render, and the Corefile / redis.conf / tcprouter TOML contents.
 */
const SEED = join(ROOT, 'configs/plans/seed.yaml');

describe('plexus render: plan errors', () => {
  let dir: string;
  before(async () => (dir = await tempDir('plexus-plan-')));
  after(async () => removeDir(dir));

  test('several errors at once, each with its key path, exit 2 and nothing written', async () => {
    const plan = join(dir, 'bad.yaml');
    await writeFile(
      plan,
      `network: { name: bad, zones: [gateway.tf], threebotDomain: other.org }
networks:
  main: { cidr: 10.2.0.0/24, topology: { hub: nobody } }
machines:
  a: { address: 10.70.0.1, colour: blue }
  b: { address: 10.70.0.300 }
nodes:
  explorer: { machine: a, role: explorer }
  dns1: { machine: nowhere, role: dsn }
`,
    );
    const r = await runCli(['render', '--plan', plan, '--out', join(dir, 'out')]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /PLAN: machines\.a\.colour: unknown key 'colour'/);
    assert.match(r.stderr, /PLAN: machines\.b\.address: expected an IPv4 address/);
    assert.match(r.stderr, /PLAN: nodes\.dns1\.role: expected one of "explorer", "dns"/);
    await assert.rejects(stat(join(dir, 'out')), 'nothing is written for an invalid plan');

    // Once the shapes are right, the cross-references are checked, again all at once.
    await writeFile(
      plan,
      `network: { name: bad, zones: [gateway.tf], threebotDomain: other.org }
networks:
  main: { cidr: 10.2.0.0/24, topology: { hub: nobody } }
machines:
  a: { address: 10.70.0.1 }
  b: { address: 10.70.0.1 }
nodes:
  explorer: { machine: a, role: explorer }
  dns1: { machine: nowhere, role: dns, networks: [redis] }
`,
    );
    const j = await runCli(['render', '--plan', plan, '--out', join(dir, 'out'), '--json']);
    assert.equal(j.code, 2, j.stdout + j.stderr);
    const paths = (j.json.error.data.issues as { file: string; path: string }[]).map((i) => i.path).sort();
    assert.deepEqual(paths, ['machines.b.address', 'network.threebotDomain', 'networks.main.topology.hub', 'nodes.dns1.machine', 'nodes.dns1.networks.0']);
    assert.ok(j.json.error.data.issues.every((i: { file: string }) => i.file === 'PLAN'));
  });

  test('an unreadable plan and a world-readable secrets file are refused', async () => {
    const missing = await runCli(['render', '--plan', join(dir, 'none.yaml'), '--out', join(dir, 'o2')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /PLAN: \(top level\): cannot read/);
    const plan = join(dir, 'seed.yaml');
    await copyFile(SEED, plan);
    await writeFile(join(dir, 'seed.secrets.yaml'), 'stores: {}\n', { mode: 0o644 });
    const r = await runCli(['render', '--plan', plan, '--out', join(dir, 'o3')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /ERR_SECRETS_FILE: .*readable by others/);
  });
});

describe('plexus render: the seed plan', () => {
  let dir: string;
  let out: string;
  let plan: string;
  let first: any;
  before(async () => {
    dir = await tempDir('plexus-render-');
    plan = join(dir, 'seed.yaml');
    out = join(dir, 'out');
    await copyFile(SEED, plan);
    const r = await runCli(['render', '--plan', plan, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    first = r.json;
  });
  after(async () => removeDir(dir));

  const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;
  const read = (p: string): Promise<string> => readFile(join(out, p), 'utf8');

  test('manifest lists every node and file; secrets only in 0600 files, configs world-readable', async () => {
    const manifest = JSON.parse(await read('manifest.json'));
    assert.equal(manifest.plan.name, 'seed');
    assert.deepEqual(
      manifest.nodes.map((n: any) => [n.name, n.role, n.machine, n.address]),
      [
        ['explorer', 'explorer', 'explorer', '10.70.0.1'],
        ['dns1', 'dns', 'dns1', '10.70.0.11'],
        ['dns2', 'dns', 'dns2', '10.70.0.12'],
        ['host1', 'host', 'host1', '10.70.0.21'],
        ['bot', 'threebot', 'home', '192.168.70.2'],
      ],
    );
    const dns1 = manifest.nodes.find((n: any) => n.name === 'dns1');
    assert.deepEqual([...dns1.files].sort(), ['dns1/Corefile', 'dns1/plexus.yaml', 'dns1/redis.conf', 'dns1/secrets/identity.key', 'dns1/secrets/master.password', 'dns1/secrets/store.password', 'dns1/tcprouter.toml']);
    const secrets = parse(await readFile(join(dir, 'seed.secrets.yaml'), 'utf8'));
    assert.equal(await mode(join(dir, 'seed.secrets.yaml')), 0o600);
    const allSecrets = [...Object.values(secrets.stores), ...Object.values(secrets.tunnels), ...Object.values(secrets.identities)] as string[];
    assert.equal(allSecrets.length, 4 + 1 + 5);
    for (const node of manifest.nodes) {
      for (const f of node.files as string[]) {
        const m = await mode(join(out, f));
        const text = await read(f);
        const holdsSecret = allSecrets.some((s) => text.includes(s));
        if (f.endsWith('plexus.yaml')) {
          assert.equal(m, 0o644, f);
          assert.equal(holdsSecret, false, `${f} holds a secret`);
        } else {
          assert.equal(m, 0o600, `${f} is ${m.toString(8)}`);
          assert.equal(holdsSecret, true, `${f} should be a secret-bearing file`);
        }
      }
      assert.equal(await mode(join(out, node.name, 'secrets')), 0o700);
    }
  });

  test('every rendered config passes plexus check-config, referencing its secrets by relative path', async () => {
    for (const node of ['explorer', 'dns1', 'dns2', 'host1', 'bot']) {
      const r = await runCli(['check-config', '--config', join(out, node, 'plexus.yaml'), '--json']);
      assert.equal(r.code, 0, `${node}: ${r.stdout}${r.stderr}`);
    }
    const dns1 = parse(await read('dns1/plexus.yaml'));
    assert.equal(dns1.node.identityFile, 'secrets/identity.key');
    assert.deepEqual(dns1.plugins.store.replicaOf, { network: 'redis', port: 6378, passwordFile: 'secrets/master.password' });
    assert.equal(dns1.node.explorer[0], first.explorer);
    const explorer = parse(await read('explorer/plexus.yaml'));
    assert.deepEqual(explorer.plugins.gateway.publicIps, ['10.70.0.11', '10.70.0.12']);
    // The registry admits exactly the plan's members, by the identities render generated.
    const keys = Object.fromEntries(await Promise.all(['explorer', 'dns1', 'dns2', 'bot'].map(async (n) => [n, JSON.parse(await read(`${n}/secrets/identity.key`)).publicKey])));
    assert.deepEqual(explorer.plugins.wireguard.registry.main.allow, [keys.dns1, keys.dns2, keys.bot]);
    assert.deepEqual(explorer.plugins.wireguard.registry.redis.allow, [keys.explorer, keys.dns1, keys.dns2]);
    // The key in secrets/ is the one `plexus id` uses: its peer id is the one in the others' configs.
    const id = await runCli(['id', '--config', join(out, 'explorer', 'plexus.yaml'), '--json']);
    assert.equal(id.code, 0, id.stderr);
    assert.ok(first.explorer.endsWith(`/p2p/${id.json.peerId}`), `${first.explorer} vs ${id.json.peerId}`);
    const bot = parse(await read('bot/plexus.yaml'));
    assert.deepEqual(bot.plugins.tunnel.remotes, ['10.70.0.11:18000', '10.70.0.12:18000']);
    assert.deepEqual(bot.node.listen, []);
    assert.equal(bot.plugins.wireguard.networks.main.endpoint, undefined, 'behind NAT: no endpoint');
  });

  test('Corefile, redis.conf and tcprouter TOML carry the node\'s addresses and passwords', async () => {
    const replicaPw = (await read('dns1/secrets/store.password')).trim();
    const masterPw = (await read('explorer/secrets/store.password')).trim();
    assert.equal((await read('dns1/secrets/master.password')).trim(), masterPw);
    const corefile = await read('dns1/Corefile');
    assert.match(corefile, /^gateway\.tf \{\n    bind 10\.70\.0\.11\n    redis \{\n        address 127\.0\.0\.1:6379\n/);
    assert.ok(corefile.includes(`password ${replicaPw}\n`), corefile);
    const redis = (await read('dns1/redis.conf')).split('\n');
    for (const line of ['bind 127.0.0.1', 'port 6379', `requirepass ${replicaPw}`, `masterauth ${masterPw}`, 'appendonly yes', 'replica-read-only yes']) assert.ok(redis.includes(line), line);
    const explorerRedis = (await read('explorer/redis.conf')).split('\n');
    for (const line of ['port 6378', `requirepass ${masterPw}`, 'appendfsync always']) assert.ok(explorerRedis.includes(line), line);
    assert.ok(!explorerRedis.some((l) => l.startsWith('replicaof')));
    const toml = (await read('dns2/tcprouter.toml')).split('\n');
    const replica2 = (await read('dns2/secrets/store.password')).trim();
    for (const line of ['[server]', 'addr = "10.70.0.12"', 'port = 443', 'httpport = 80', 'clientsport = 18000', '[server.dbbackend]', 'type = "redis"', 'port = 6379', `password = "${replica2}"`]) {
      assert.ok(toml.includes(line), `${line} in\n${toml.join('\n')}`);
    }
  });

  test('a second render reuses every secret and rewrites the files the same', async () => {
    const secretsBefore = await readFile(join(dir, 'seed.secrets.yaml'), 'utf8');
    const before = await Promise.all(['explorer/plexus.yaml', 'dns1/Corefile', 'bot/secrets/tunnel.secret', 'dns1/secrets/identity.key'].map(read));
    // A mode loosened by hand is put back on the next render.
    await chmod(join(out, 'dns1/redis.conf'), 0o644);
    const r = await runCli(['render', '--plan', plan, '--out', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.json.secrets.created, false);
    assert.equal(r.json.secrets.updated, false);
    assert.equal(r.json.explorer, first.explorer);
    assert.equal(await readFile(join(dir, 'seed.secrets.yaml'), 'utf8'), secretsBefore);
    assert.deepEqual(await Promise.all(['explorer/plexus.yaml', 'dns1/Corefile', 'bot/secrets/tunnel.secret', 'dns1/secrets/identity.key'].map(read)), before);
    assert.equal(await mode(join(out, 'dns1/redis.conf')), 0o600);
    // Human output names the secrets file and that it was reused.
    const h = await runCli(['render', '--plan', plan, '--out', out]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /seed\.secrets\.yaml \(reused; mode 0600\)/);
  });
});

describe('plexus net on a plan that is not up', () => {
  let dir: string;
  before(async () => (dir = await tempDir('plexus-net-idle-')));
  after(async () => removeDir(dir));

  test('status says so, down is a no-op that leaves nothing, exec refuses; a bad plan is exit 2', async () => {
    const plan = join(dir, 'seed.yaml');
    await copyFile(SEED, plan);
    const runDir = join(dir, 'run');
    const status = await runCli(['net', 'status', '--plan', plan, '--run-dir', runDir, '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual([status.json.up, status.json.nodes], [false, []]);
    const down = await runCli(['net', 'down', '--plan', plan, '--run-dir', runDir, '--json']);
    assert.equal(down.code, 0, down.stderr);
    assert.deepEqual(down.json.left, { processes: 0, containers: 0, namespaces: 0, interfaces: 0, nftTables: 0, wireguardSockets: 0, mounts: 0 });
    const exec = await runCli(['net', 'exec', '--plan', plan, '--run-dir', runDir, 'visitor', '--', 'true']);
    assert.equal(exec.code, 1);
    assert.match(exec.stderr, /ERR_NET: seed is not up/);
    await writeFile(join(dir, 'bad.yaml'), 'network: { name: x }\n');
    const bad = await runCli(['net', 'up', '--plan', join(dir, 'bad.yaml'), '--run-dir', runDir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /PLAN: network\.zones: required/);
    assert.match(bad.stderr, /PLAN: machines: required/);
  });
});
