import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeProcess, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';
import { Lan } from './lib/netns.js';

const ZONE = 'gateway.tf';

/**
 * The ThreeFold explorer infrastructure on one machine: host `explorer` (store master, phonebook,
 * gateway), hosts `dns1` and `dns2` (store replica + dns), host `client`; each its own network
 * namespace and its own `plexus` process. Checked with the real `dig` from the client host.
 */
describe('names resolve on every DNS node from its own replica of the explorer store', () => {
  const lan = new Lan();
  let dir: string;
  let explorer: NodeProcess;
  let explorerConfig: string;
  const dnsConfigs: Record<string, string> = {};
  let explorerAddr: string;

  const cli = (args: string[]) => runCli([...args, '--explorer', explorerAddr, '--json'], {}, 30_000, lan.wrap('client', []));

  /** `dig +short` from the client host; '' when no answer (or timeout). */
  async function dig(server: string, name: string, type = 'A'): Promise<string> {
    try {
      const { stdout } = await lan.run('client', ['dig', `@${lan.host(server).ip}`, name, type, '+short', '+time=1', '+tries=1'], 5000);
      return stdout.trim();
    } catch (err) {
      return `error: ${(err as { stdout?: string }).stdout ?? (err as Error).message}`;
    }
  }

  /** Polls dig until `pred` holds (a condition with a deadline, not a sleep). */
  async function digUntil(server: string, name: string, pred: (answer: string) => boolean, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = await dig(server, name);
      if (pred(last)) return last;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`dig @${server} ${name}: still '${last}' after ${timeoutMs} ms`);
  }

  before(async () => {
    dir = await tempDir('plexus-dns-e2e-');
    await lan.create(['explorer', 'dns1', 'dns2', 'client']);
    const master = lan.host('explorer').ip;
    await writeFile(join(dir, 'redis.pass'), 'e2e-master-secret\n', { mode: 0o600 });
    explorerConfig = await writeConfig(
      dir,
      'explorer',
      `node:
  name: explorer
  dataDir: ${join(dir, 'explorer')}
  listen: [/ip4/${master}/tcp/4001]
plugins:
  store: { bind: ${master}, port: 6378, passwordFile: ${join(dir, 'redis.pass')} }
  phonebook: {}
  gateway: { zones: [${ZONE}], publicIps: [${master}] }
`,
    );
    for (const name of ['dns1', 'dns2']) {
      dnsConfigs[name] = await writeConfig(
        dir,
        name,
        `node:
  name: ${name}
  dataDir: ${join(dir, name)}
  listen: [/ip4/${lan.host(name).ip}/tcp/4001]
plugins:
  store:
    mode: replica
    port: 6379
    replicaOf: { host: ${master}, port: 6378, passwordFile: ${join(dir, 'redis.pass')} }
  dns: { listen: ['${lan.host(name).ip}:53'], zones: [${ZONE}] }
`,
      );
    }
    explorer = await NodeProcess.start(explorerConfig, 30_000, lan.wrap('explorer', []));
    explorerAddr = explorer.multiaddr;
    await Promise.all(['dns1', 'dns2'].map((n) => NodeProcess.start(dnsConfigs[n]!, 30_000, lan.wrap(n, []))));
  });

  after(async () => {
    await killAllNodes();
    await lan.destroy();
    await removeDir(dir);
  });

  test('a name registered and exposed on the explorer resolves on dns1 and dns2', async () => {
    const key = join(dir, 'alice.key');
    const reg = await cli(['phonebook', 'register', '--name', 'alice', '--email', 'alice@example.org', '--key', key]);
    assert.equal(reg.code, 0, reg.stdout + reg.stderr);
    // Exposed: the name is a CNAME to the gateway's zone, whose apex is the gateway's own
    // address (publicIps); the router then forwards to the private IP (COMPAT §4).
    const exp = await cli(['gateway', 'expose', '--name', 'alice', '--ip', '10.2.0.5', '--key', key]);
    assert.equal(exp.code, 0, exp.stdout + exp.stderr);
    const gatewayIp = lan.host('explorer').ip;
    for (const server of ['dns1', 'dns2']) {
      const answer = await digUntil(server, `alice.${ZONE}`, (a) => a.split('\n').includes(gatewayIp));
      assert.deepEqual(answer.split('\n'), [`${ZONE}.`, gatewayIp]);
    }
    // A plain A record under the name answers with the address itself.
    const www = await cli(['gateway', 'register-a', '--name', 'www.alice', '--ip', '10.2.0.5', '--key', key]);
    assert.equal(www.code, 0, www.stdout + www.stderr);
    for (const server of ['dns1', 'dns2']) {
      assert.equal(await digUntil(server, `www.alice.${ZONE}`, (a) => a === '10.2.0.5'), '10.2.0.5');
    }
    // Somebody else's key cannot change alice's records.
    const other = join(dir, 'mallory.key');
    const mreg = await cli(['phonebook', 'register', '--name', 'mallory', '--email', 'm@example.org', '--key', other]);
    assert.equal(mreg.code, 0);
    const hijack = await cli(['gateway', 'register-a', '--name', 'www.alice', '--ip', '10.9.9.9', '--key', other]);
    assert.equal(hijack.code, 1);
    assert.equal(hijack.json.error.code, 'ERR_FORBIDDEN');
  });

  test('with the master killed, both DNS nodes go on answering; a change after it returns reaches both', async () => {
    explorer.killGroup('SIGKILL');
    await explorer.waitExit();
    for (const server of ['dns1', 'dns2']) {
      for (let i = 0; i < 20; i++) assert.equal(await dig(server, `www.alice.${ZONE}`), '10.2.0.5', `${server} query ${i}`);
      const status = await runCli(['status', '--config', dnsConfigs[server]!, '--json']);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(status.json.plugins.store.role, 'replica');
    }
    explorer = await NodeProcess.start(explorerConfig, 30_000, lan.wrap('explorer', []));
    const key = join(dir, 'bob.key');
    const reg = await cli(['phonebook', 'register', '--name', 'bob', '--email', 'bob@example.org', '--key', key]);
    assert.equal(reg.code, 0, reg.stdout + reg.stderr);
    const a = await cli(['gateway', 'register-a', '--name', 'bob', '--ip', '10.2.0.6', '--key', key]);
    assert.equal(a.code, 0, a.stdout + a.stderr);
    for (const server of ['dns1', 'dns2']) {
      await digUntil(server, `bob.${ZONE}`, (ans) => ans === '10.2.0.6');
      const status = await runCli(['status', '--config', dnsConfigs[server]!, '--json']);
      assert.equal(status.json.plugins.store.masterLink, 'up');
    }
    // Names registered before the outage still resolve.
    assert.equal(await dig('dns1', `www.alice.${ZONE}`), '10.2.0.5');
  });

  test('dig sees NXDOMAIN for unknown names and REFUSED outside the served zones', async () => {
    const { stdout: nx } = await lan.run('client', ['dig', `@${lan.host('dns1').ip}`, `nobody.${ZONE}`, 'A', '+time=1', '+tries=1']);
    assert.match(nx, /status: NXDOMAIN/);
    assert.match(nx, /AUTHORITY SECTION:[\s\S]*SOA/);
    const { stdout: refused } = await lan.run('client', ['dig', `@${lan.host('dns2').ip}`, 'example.com', 'A', '+time=1', '+tries=1']);
    assert.match(refused, /status: REFUSED/);
  });
});

