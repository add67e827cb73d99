import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT, removeDir, runCli, tempDir } from './lib/harness.js';
import { requireWireguardTools, until } from './lib/wg.js';

const exec = promisify(execFile);

/**
 * `plexus net up` of the seed plan, for real: every machine a network namespace, the threebot
 * behind an nftables NAT, real WireGuard (wireguard-go), a dockerd for the host node, one
 * supervised `plexus start` per node. Then, as the README walkthrough does: the threebot registers
 * and exposes its name through the explorer from behind the NAT, a visitor namespace resolves it
 * with `dig` on both DNS nodes and fetches it with `curl` through a router and the tunnel. `net
 * down` must leave nothing, which is counted from outside (ip netns, ip link, /proc, wg sockets).
 */
describe('plexus net: the seed plan up on one machine, reached by a visitor, and down without a trace', () => {
  let dir: string;
  let plan: string;
  let runDir: string;
  let status: any;
  let web: ChildProcess | undefined;
  const net = (verb: string, extra: string[] = [], timeoutMs = 180_000) => runCli(['net', verb, '--plan', plan, '--run-dir', runDir, ...extra], {}, timeoutMs);
  const nsOf = (node: string): string => status.nodes.find((n: any) => n.node === node).netns;
  const inNs = (ns: string, argv: string[], timeout = 15_000) => exec('nsenter', [`--net=/run/netns/${ns}`, ...argv], { timeout });
  const logs = async (): Promise<string> => {
    const files = await readdir(join(runDir, 'logs')).catch(() => [] as string[]);
    return (await Promise.all(files.map(async (f) => `--- ${f}\n${(await readFile(join(runDir, 'logs', f), 'utf8').catch(() => '')).split('\n').slice(-15).join('\n')}`))).join('\n');
  };

  before(async () => {
    await requireWireguardTools();
    for (const [tool, pkg] of [['dig', 'dnsutils'], ['curl', 'curl'], ['dockerd', 'docker.io']]) {
      await exec('sh', ['-c', `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is missing: apt-get install -y ${pkg} (scripts/setup.sh --test does it)`);
      });
    }
    dir = await tempDir('plexus-net-e2e-');
    plan = join(dir, 'seed.yaml');
    runDir = join(dir, 'run');
    await copyFile(join(ROOT, 'configs/plans/seed.yaml'), plan);
  });

  after(async () => {
    web?.kill('SIGKILL');
    // Whatever the tests did, nothing of the run may stay on the machine.
    if (plan !== undefined) await net('down').catch(() => undefined);
    if (dir !== undefined) await removeDir(dir);
  });

  test('net up brings every node to ready, reports how long it took, and says so when already up', async () => {
    const t0 = Date.now();
    const up = await net('up', ['--json']);
    assert.equal(up.code, 0, `${up.stdout}${up.stderr}\n${await logs()}`);
    status = up.json;
    const took = Date.now() - t0;
    assert.equal(status.alreadyUp, false);
    assert.deepEqual(status.nodes.map((n: any) => [n.node, n.role, n.health]), [
      ['explorer', 'explorer', 'ready'],
      ['dns1', 'dns', 'ready'],
      ['dns2', 'dns', 'ready'],
      ['host1', 'host', 'ready'],
      ['bot', 'threebot', 'ready'],
    ]);
    assert.ok(status.tookMs > 0 && status.tookMs <= took, JSON.stringify(status));
    // The DNS nodes replicate over the redis WireGuard network; the threebot is in main behind NAT.
    for (const n of ['dns1', 'dns2']) {
      const row = status.nodes.find((r: any) => r.node === n);
      assert.match(row.wireguard.redis, /^10\.1\.0\.\d+$/);
      assert.match(row.wireguard.main, /^10\.2\.0\.\d+$/);
      assert.equal(typeof row.lagBytes, 'number');
    }
    assert.match(status.nodes.find((r: any) => r.node === 'bot').wireguard.main, /^10\.2\.0\.\d+$/);

    const again = await net('up');
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already up/);
    const human = await net('status');
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^node\s+role\s+netns\s+address\s+health\s+lag/m);
    assert.match(human.stdout, /^dns2\s+dns\s+\S+\s+10\.70\.0\.12\s+ready\s+\d+ B/m);
  });

  test('a threebot behind NAT registers, exposes itself through the tunnel, and a visitor reaches it with dig and curl', async () => {
    const bot = nsOf('bot');
    const visitor = status.visitor.ns;
    await mkdir(join(dir, 'www'));
    await writeFile(join(dir, 'www', 'index.html'), 'hello from behind the NAT\n');
    web = spawn('nsenter', [`--net=/run/netns/${bot}`, 'busybox', 'httpd', '-f', '-p', '127.0.0.1:80', '-h', join(dir, 'www')], { stdio: 'ignore' });
    const secret = (await readFile(join(runDir, 'config', 'bot', 'secrets', 'tunnel.secret'), 'utf8')).trim();
    const key = join(dir, 'mybot.key');
    const cli = (args: string[]) => runCli([...args, '--key', key, '--explorer', status.explorer, '--json'], {}, 60_000, ['nsenter', `--net=/run/netns/${bot}`]);
    const reg = await cli(['phonebook', 'register', '--name', 'mybot', '--email', 'mybot@example.org']);
    assert.equal(reg.code, 0, reg.stdout + reg.stderr);
    const exp = await cli(['gateway', 'expose', '--name', 'mybot', '--client-secret', secret]);
    assert.equal(exp.code, 0, exp.stdout + exp.stderr);

    for (const dns of ['10.70.0.11', '10.70.0.12']) {
      await until(`${dns} answers mybot.gateway.tf`, async () => {
        const { stdout } = await inNs(visitor, ['dig', `@${dns}`, 'mybot.gateway.tf', 'A', '+short', '+time=1', '+tries=1']).catch(() => ({ stdout: '' }));
        return stdout.trim().split('\n').sort().join(',') === '10.70.0.11,10.70.0.12';
      }, 30_000, logs);
    }
    for (const router of ['10.70.0.11', '10.70.0.12']) {
      await until(`curl through ${router} reaches the threebot`, async () => {
        const { stdout } = await inNs(visitor, ['curl', '-s', '--max-time', '3', '--resolve', `mybot.gateway.tf:80:${router}`, 'http://mybot.gateway.tf/']).catch(() => ({ stdout: '' }));
        return stdout === 'hello from behind the NAT\n';
      }, 30_000, logs);
    }
    const st = await net('status', ['--json']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.json.nodes.find((n: any) => n.node === 'bot').health, 'ready');
  });

  test('a node that dies is started again by its supervisor and catches up', async () => {
    const nodePids = async (): Promise<number[]> =>
      (await pidsMentioning(join(runDir, 'config', 'dns2', 'plexus.yaml'))).filter((p) => !cmdlineOf(p).includes('supervise.js'));
    const [pid] = await nodePids();
    assert.ok(pid !== undefined, 'dns2 runs');
    process.kill(pid, 'SIGKILL');
    await until('dns2 runs again, ready, with its replica linked', async () => {
      const st = await net('status', ['--json']);
      const row = st.json?.nodes?.find((n: any) => n.node === 'dns2');
      const now = await nodePids();
      return row?.health === 'ready' && now.length === 1 && now[0] !== pid;
    }, 90_000, logs, 500);
    const { stdout } = await inNs(status.visitor.ns, ['dig', '@10.70.0.12', 'mybot.gateway.tf', 'A', '+short', '+time=2', '+tries=2']);
    assert.equal(stdout.trim().split('\n').sort().join(','), '10.70.0.11,10.70.0.12');
  });

  test('net down removes every namespace, interface, process and socket, counted from outside', async () => {
    const namespaces = status.nodes.map((n: any) => n.netns as string);
    const id = /^px([0-9a-f]{4})-/.exec(namespaces[0])![1]!;
    const pidsBefore = await pidsMentioning(runDir);
    assert.ok(pidsBefore.length >= 5, `supervisors and nodes run: ${pidsBefore.length}`);
    web?.kill('SIGKILL');
    web = undefined;
    const down = await net('down', ['--json']);
    assert.equal(down.code, 0, down.stdout + down.stderr);
    assert.ok(down.json.removed.namespaces >= 7 && down.json.removed.processes >= 6 && down.json.removed.nftTables === 1, JSON.stringify(down.json));
    assert.deepEqual(Object.keys(down.json.left), ['processes', 'containers', 'namespaces', 'interfaces', 'nftTables', 'wireguardSockets', 'mounts']);
    assert.ok(Object.values(down.json.left).every((v) => v === 0), JSON.stringify(down.json.left));
    // dockerd's mounts in its data root (kept after it exits where mount propagation is private).
    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    assert.ok(!mountinfo.includes(runDir), mountinfo.split('\n').filter((l) => l.includes(runDir)).join('\n'));

    const { stdout: nsList } = await exec('ip', ['netns', 'list']);
    assert.equal(nsList.split('\n').filter((l) => l.startsWith(`px${id}-`)).length, 0, nsList);
    const { stdout: links } = await exec('ip', ['-o', 'link', 'show']);
    assert.ok(!links.includes(`pv${id}`), links);
    assert.deepEqual(await pidsMentioning(runDir), []);
    assert.deepEqual((await readdir('/var/run/wireguard').catch(() => [] as string[])).filter((f) => f.startsWith(`px${id}`)), []);
    // The host node's dockerd (its socket and roots carry the run's id) and its containerd are gone.
    assert.deepEqual(await pidsMentioning(`pxnet-${id}`), []);
    // Logs stay; state, configs, secrets and data go.
    assert.deepEqual((await readdir(runDir)).sort(), ['logs']);

    const twice = await net('down');
    assert.equal(twice.code, 0, twice.stderr);
    assert.match(twice.stdout, /left behind: nothing/);
  });
});

const cmdlines = new Map<number, string>();
function cmdlineOf(pid: number): string {
  return cmdlines.get(pid) ?? '';
}

/** Pids whose command line mentions `text` (the run dir is in every supervisor's and node's argv). */
async function pidsMentioning(text: string): Promise<number[]> {
  const out: number[] = [];
  for (const p of await readdir('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    const cmd = await readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(text)) {
      out.push(Number(p));
      cmdlines.set(Number(p), cmd);
    }
  }
  return out;
}
