import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeProcess, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';
import { NatHost } from './lib/nat.js';
import { Lan } from './lib/netns.js';
import { adminStatus, lostPings, pings, requireWireguardTools, until } from './lib/wg.js';

const REDIS_NET = '10.91.0.0/24';
const MAIN_NET = '10.92.0.0/24';
const MASTER_PORT = 6378;
const NODES = ['explorer', 'dns1', 'dns2', 'threebot'] as const;
type Node = (typeof NODES)[number];
/** Who is in which network (the seed deployment): redis = explorer + DNS nodes, main = DNS nodes + threebot, hub dns1. */
const MEMBERS = { redis: ['explorer', 'dns1', 'dns2'], main: ['dns1', 'dns2', 'threebot'] } as const satisfies Record<string, readonly Node[]>;
type Net = keyof typeof MEMBERS;

/**
 * The seed deployment's two WireGuard networks, built by the wireguard plugin from cold: each host
 * its own network namespace and `plexus` process, real `wg` + `wireguard-go` (this kernel has no
 * WireGuard module), the threebot behind an nftables NAT. The explorer holds the registry
 * (`redis` mesh, `main` with dns1 as hub) and the store master; the DNS nodes' store replicas take
 * their master from the `redis` network.
 */
describe('wireguard: the redis and main networks configure themselves from the registry', () => {
  const lan = new Lan('10.78.0');
  const nat = new NatHost(lan, { subnet: '192.168.78' });
  const id = randomBytes(3).toString('hex');
  let dir: string;
  const configs = {} as Record<Node, string>;
  const nodes = {} as Record<Node, NodeProcess>;
  const prefix = (n: Node): string[] => (n === 'threebot' ? nat.wrap([]) : lan.wrap(n, []));
  const lanIp = (n: Node): string => lan.host(n).ip;
  const iface = (n: Node, net: Net): string => `p${id}${n[0]}${n.at(-1)}${net[0]}`;
  const logs = (): string => NODES.map((n) => `--- ${n}:\n${nodes[n]?.stderr.split('\n').slice(-30).join('\n') ?? ''}`).join('\n');
  const status = async (n: Node): Promise<any> => adminStatus(join(dir, n, 'admin.sock'));
  const wgOf = async (n: Node, net: Net): Promise<any> => ((await status(n)).plugins.wireguard.networks as any[]).find((x) => x.network === net);
  const addrs = {} as Record<Net, Partial<Record<Node, string>>>;

  before(async () => {
    await Lan.requireRoot();
    await requireWireguardTools();
    dir = await tempDir('plexus-wg-e2e-');
    await lan.create(['explorer', 'dns1', 'dns2']);
    await nat.create();
    const pass = join(dir, 'redis.pass');
    await writeFile(pass, 'wg-e2e-master-secret\n', { mode: 0o600 });

    configs.explorer = await writeConfig(
      dir,
      'explorer',
      `node:
  name: explorer
  dataDir: ${join(dir, 'explorer')}
  listen: [/ip4/${lanIp('explorer')}/tcp/4001]
plugins:
  # Loopback only: the wireguard plugin adds the explorer's address in the redis network.
  store: { bind: 127.0.0.1, port: ${MASTER_PORT}, passwordFile: ${pass} }
  wireguard:
    registry:
      redis: { cidr: ${REDIS_NET} }
      main: { cidr: ${MAIN_NET}, topology: { hub: dns1 } }
    networks:
      redis: { listenPort: 51820, endpoint: '${lanIp('explorer')}:51820', interface: ${iface('explorer', 'redis')}, store: true }
`,
    );
    nodes.explorer = await NodeProcess.start(configs.explorer, 30_000, prefix('explorer'));
    const explorerAddr = nodes.explorer.multiaddr;

    for (const n of ['dns1', 'dns2'] as const) {
      configs[n] = await writeConfig(
        dir,
        n,
        `node:
  name: ${n}
  dataDir: ${join(dir, n)}
  listen: [/ip4/${lanIp(n)}/tcp/4001]
  explorer: [${explorerAddr}]
plugins:
  store:
    mode: replica
    port: 6379
    # No host: the master is the registry node's address in the redis network, nothing else.
    replicaOf: { network: redis, port: ${MASTER_PORT}, passwordFile: ${pass} }
  wireguard:
    networks:
      redis: { listenPort: 51820, endpoint: '${lanIp(n)}:51820', interface: ${iface(n, 'redis')}, store: true }
      main: { listenPort: 51821, endpoint: '${lanIp(n)}:51821', interface: ${iface(n, 'main')} }
`,
      );
    }
    configs.threebot = await writeConfig(
      dir,
      'threebot',
      `node:
  name: threebot
  dataDir: ${join(dir, 'threebot')}
  listen: []
  explorer: [${explorerAddr}]
plugins:
  wireguard:
    networks:
      # No endpoint: behind NAT, it dials the hub and keeps the session alive.
      main: { listenPort: 51821, interface: ${iface('threebot', 'main')} }
`,
    );
    await Promise.all((['dns1', 'dns2', 'threebot'] as const).map(async (n) => (nodes[n] = await NodeProcess.start(configs[n], 30_000, prefix(n)))));
  });

  after(async () => {
    // SIGTERM first: a node stopping cleanly removes its interfaces and wireguard-go its control socket.
    await Promise.all(Object.values(nodes).map((n) => n.stop('SIGTERM', 15_000).catch(() => undefined)));
    await killAllNodes();
    // What a killed wireguard-go leaves behind; the names carry this run's id.
    const sockets = await readdir('/var/run/wireguard').catch(() => [] as string[]);
    await Promise.all(sockets.filter((f) => f.startsWith(`p${id}`)).map((f) => rm(join('/var/run/wireguard', f), { force: true })));
    await nat.destroy();
    await lan.destroy();
    if (dir !== undefined) await removeDir(dir);
  });

  /** Every member's address, once each has one, from its own status. */
  async function addresses(): Promise<void> {
    for (const net of Object.keys(MEMBERS) as Net[]) {
      addrs[net] = {};
      for (const n of MEMBERS[net]) {
        await until(`${n} has an address in ${net}`, async () => (await wgOf(n, net).catch(() => undefined))?.address !== undefined, 30_000, logs);
        addrs[net][n] = (await wgOf(n, net)).address;
      }
    }
  }

  const pairs = (net: Net): [Node, Node][] => MEMBERS[net].flatMap((a) => MEMBERS[net].filter((b) => b !== a).map((b) => [a, b] as [Node, Node]));

  test('both networks come up from cold: every member pings every member it should, and no one else', async () => {
    await addresses();
    assert.ok(addrs.redis.explorer!.startsWith('10.91.0.') && addrs.main.dns1!.startsWith('10.92.0.'), JSON.stringify(addrs));
    const all = [...pairs('redis').map((p) => ['redis', ...p] as const), ...pairs('main').map((p) => ['main', ...p] as const)];
    // dns2 and the threebot reach each other only through the hub dns1: the threebot is behind NAT.
    await until(
      'every member pings every other member of its networks',
      async () => (await Promise.all(all.map(([net, a, b]) => pings(prefix(a), addrs[net][b]!)))).every((ok) => ok),
      60_000,
      async () => `${JSON.stringify(addrs)}\n${(await Promise.all(all.map(async ([net, a, b]) => `${net} ${a}->${b}: ${await pings(prefix(a), addrs[net][b]!)}`))).join('\n')}\n${logs()}`,
      200,
    );
    // No one outside a network reaches into it: the explorer is not in main, the threebot not in redis.
    for (const b of MEMBERS.main) assert.equal(await pings(prefix('explorer'), addrs.main[b]!), false, `explorer reached ${b} in main`);
    for (const b of MEMBERS.redis) assert.equal(await pings(prefix('threebot'), addrs.redis[b]!), false, `threebot reached ${b} in redis`);

    // Hub topology: spokes have only the hub as peer (with the whole network), the hub has every spoke.
    const peersOf = async (n: Node, net: Net): Promise<any[]> => (await wgOf(n, net)).peers;
    assert.deepEqual((await peersOf('dns2', 'main')).map((p) => [p.name, p.allowedIps]), [['dns1', [MAIN_NET]]]);
    assert.deepEqual((await peersOf('threebot', 'main')).map((p) => [p.name, p.allowedIps]), [['dns1', [MAIN_NET]]]);
    assert.deepEqual((await peersOf('dns1', 'main')).map((p) => p.name).sort(), ['dns2', 'threebot']);
    // The NATed member keeps its sessions alive; the hub learned its (masqueraded) endpoint from its packets.
    const tb = (await peersOf('dns1', 'main')).find((p) => p.name === 'threebot');
    assert.ok(tb.endpoint?.startsWith(`${nat.router!.ip}:`), JSON.stringify(tb));
    assert.equal((await peersOf('threebot', 'main'))[0].keepalive, 25);

    // The operator's view, through the CLI: address, key, peers with endpoint, handshake and transfer.
    const cli = await runCli(['wg', 'status', '--config', configs.dns1, '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const redis = (cli.json.networks as any[]).find((x) => x.network === 'redis');
    assert.equal(redis.address, addrs.redis.dns1);
    assert.match(redis.publicKey, /^[A-Za-z0-9+/]{43}=$/);
    assert.deepEqual(redis.peers.map((p: any) => p.name).sort(), ['dns2', 'explorer']);
    for (const p of redis.peers) {
      assert.ok(p.latestHandshake > 0 && p.rxBytes > 0 && p.txBytes > 0, JSON.stringify(p));
      assert.deepEqual(p.allowedIps, [`${addrs.redis[p.name as Node]}/32`]);
    }
    const human = await runCli(['wg', 'status', '--config', configs.dns1]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /latest handshake: \d+ s ago/);
  });

  test("the DNS nodes replicate the explorer's store over the redis network only", async () => {
    const master = `${addrs.redis.explorer}:${MASTER_PORT}`;
    for (const n of ['dns1', 'dns2'] as const) {
      await until(`${n}'s replica follows ${master} with its link up`, async () => {
        const s = (await status(n).catch(() => undefined))?.plugins?.store;
        return s?.masterHost === master && s?.masterLink === 'up';
      }, 30_000, async () => JSON.stringify((await status(n).catch(() => undefined))?.plugins?.store) + logs());
    }
    // A write on the master reaches both replicas.
    const key = `wg-e2e-${id}`;
    await lan.run('explorer', ['redis-cli', '-h', '127.0.0.1', '-p', String(MASTER_PORT), '--no-auth-warning', '-a', 'wg-e2e-master-secret', 'SET', key, 'over-wireguard']);
    for (const n of ['dns1', 'dns2'] as const) {
      // The replica's own password: generated by its store at first start.
      const pw = (await readFile(join(dir, n, 'store', 'redis.password'), 'utf8')).trim();
      await until(`${n}'s replica has the key`, async () => {
        const { stdout } = await lan.run(n, ['redis-cli', '-h', '127.0.0.1', '-p', '6379', '--no-auth-warning', '-a', pw, 'GET', key]);
        return stdout.trim() === 'over-wireguard';
      }, 10_000);
    }
    // Private keys stay 0600 on their node; the registry holds public keys only.
    const keyFile = join(dir, 'dns1', 'wireguard', 'redis.key');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    const privateKey = (await readFile(keyFile, 'utf8')).trim();
    const { stdout: registry } = await lan.run('explorer', ['redis-cli', '-h', '127.0.0.1', '-p', String(MASTER_PORT), '--no-auth-warning', '-a', 'wg-e2e-master-secret', 'HGETALL', 'wireguard:members:redis']);
    assert.ok(registry.includes((await wgOf('dns1', 'redis')).publicKey), registry);
    assert.ok(!registry.includes(privateKey), 'a private key reached the registry');
    // The explorer's redis listens on loopback and its redis-network address, nothing else.
    const { stdout } = await lan.run('explorer', ['ss', '-Hltn', `sport = :${MASTER_PORT}`]);
    const listening = stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)[3]!.replace(/:\d+$/, ''));
    assert.deepEqual(listening.sort(), [addrs.redis.explorer, '127.0.0.1'].sort(), stdout);
    // Its replicas connect from their redis-network addresses.
    const replicas = ((await status('explorer')).plugins.store.replicas as { addr: string }[]).map((r) => r.addr.replace(/:\d+$/, '')).sort();
    assert.deepEqual(replicas, [addrs.redis.dns1, addrs.redis.dns2].sort());
  });

  test('a key rotation while a ping runs loses at most 1 s of replies, and the peers take the new key', async (t) => {
    const before = (await wgOf('dns2', 'redis')).publicKey as string;
    // 60 echo requests 100 ms apart from dns1 to dns2 (6 s); the rotation happens in the middle.
    const ping = lostPings(prefix('dns1'), addrs.redis.dns2!, 60);
    await new Promise((r) => setTimeout(r, 2000)); // let the ping run before the rotation: what is measured is the gap around it
    const rot = await runCli(['wg', 'rotate-key', '--network', 'redis', '--config', configs.dns2, '--json']);
    assert.equal(rot.code, 0, rot.stdout + rot.stderr);
    assert.notEqual(rot.json.publicKey, before);
    const result = await ping;
    t.diagnostic(`rotation: ${result.sent - result.received} of ${result.sent} echo replies (100 ms apart) lost`);
    assert.ok(result.sent - result.received <= 10, `lost ${result.sent - result.received} of ${result.sent} replies (more than 1 s):\n${result.output}\n${logs()}`);
    for (const n of ['dns1', 'explorer'] as const) {
      await until(`${n} has dns2's new key`, async () => ((await wgOf(n, 'redis')).peers as any[]).some((p) => p.name === 'dns2' && p.publicKey === rot.json.publicKey), 5000);
    }
    assert.equal(await pings(prefix('explorer'), addrs.redis.dns2!), true);
  });

  test('an explorer restart keeps every address; the members reconnect and the store is private again', async () => {
    await nodes.explorer.stop('SIGTERM', 20_000);
    nodes.explorer = await NodeProcess.start(configs.explorer, 30_000, prefix('explorer'));
    await until('the members are back on the restarted registry', async () => {
      for (const net of Object.keys(MEMBERS) as Net[]) {
        for (const n of MEMBERS[net]) if ((await wgOf(n, net).catch(() => undefined))?.address !== addrs[net][n]) return false;
      }
      return true;
    }, 30_000, logs);
    await until('explorer and dns2 ping each other again over redis', async () => (await pings(prefix('dns2'), addrs.redis.explorer!)) && (await pings(prefix('explorer'), addrs.redis.dns2!)), 30_000, logs, 200);
    await until("the explorer's store listens on its redis address again", async () => (await lan.run('explorer', ['ss', '-Hltn', `sport = :${MASTER_PORT}`])).stdout.includes(`${addrs.redis.explorer}:${MASTER_PORT}`), 20_000);
    // A change after the restart still reaches everyone: the members' long polls are on the new process.
    const rot = await runCli(['wg', 'rotate-key', '--network', 'redis', '--config', configs.dns1, '--json']);
    assert.equal(rot.code, 0, rot.stdout + rot.stderr);
    await until("dns2 has dns1's new key", async () => ((await wgOf('dns2', 'redis')).peers as any[]).some((p) => p.publicKey === rot.json.publicKey), 10_000, logs);
  });

  test('a member removed from the registry loses access everywhere and is let back in by readmit; a member that leaves is dropped', async () => {
    const rm = await runCli(['wg', 'remove', '--network', 'main', '--member', 'dns2', '--config', configs.explorer, '--json']);
    assert.equal(rm.code, 0, rm.stdout + rm.stderr);
    await until('dns2 no longer reaches the hub in main', async () => !(await pings(prefix('dns2'), addrs.main.dns1!)), 10_000, logs);
    assert.equal(await pings(prefix('threebot'), addrs.main.dns2!), false, 'threebot still reaches dns2');
    assert.equal(await pings(prefix('threebot'), addrs.main.dns1!), true, 'the threebot lost the hub');
    await until('dns2 knows it was removed', async () => (await wgOf('dns2', 'main')).state === 'removed', 10_000);
    assert.deepEqual((await wgOf('dns2', 'main')).peers, []);
    // Its redis membership is untouched.
    assert.equal(await pings(prefix('dns2'), addrs.redis.dns1!), true);

    const back = await runCli(['wg', 'readmit', '--network', 'main', '--member', rm.json.signer, '--config', configs.explorer, '--json']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    await until('dns2 reaches the hub again', () => pings(prefix('dns2'), addrs.main.dns1!), 20_000, logs, 200);

    // A member that leaves is dropped by the hub at once, and its address is free again.
    const left = await runCli(['wg', 'leave', '--network', 'main', '--config', configs.threebot]);
    assert.equal(left.code, 0, left.stdout + left.stderr);
    await until('the hub dropped the threebot', async () => !((await wgOf('dns1', 'main')).peers as any[]).some((p) => p.name === 'threebot'), 5000, logs);
    const registry = ((await status('explorer')).plugins.wireguard.registry as any[]).find((r) => r.network === 'main');
    assert.deepEqual(registry.members.map((m: any) => m.name).sort(), ['dns1', 'dns2']);
  });
});
