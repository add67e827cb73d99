import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { adminGet } from '@plexus/core';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NodeProcess, ROOT, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';
import { NatHost } from './lib/nat.js';
import { Lan } from './lib/netns.js';

const exec = promisify(execFile);

const ZONE = 'gateway.tf';
const NAME = 'mybot';
const FQDN = `${NAME}.${ZONE}`;
const CLIENTS_PORT = 18000;
/** The services on the NATed host, on its own (fresh) network namespace. */
const HTTP_PORT = 8080;
const HTTPS_PORT = 8443;
const GATEWAYS = ['gw1', 'gw2'] as const;
type Gw = (typeof GATEWAYS)[number];

/**
 * The ThreeFold "threebot behind NAT" set-up, end to end, each host its own network namespace and
 * its own `plexus` process: `explorer` (store master, phonebook, gateway), `gw1` and `gw2` (store
 * replica + dns + tcprouter with its tunnel clients port), `visitor`, and `threebot`, whose only
 * way out is the `nat` router (nftables masquerade; nothing can connect in). The threebot
 * registers its name through the NAT, runs an HTTP and an HTTPS service and `plexus start` with
 * the tunnel plugin dialing both gateways. The visitor resolves NAME.gateway.tf with `dig` and
 * fetches both services with `curl` (HTTP by Host, HTTPS by SNI, verified against the test CA).
 */
describe('a threebot behind NAT is reached through the tunnels it opens to two gateways', () => {
  const lan = new Lan();
  const nat = new NatHost(lan);
  let dir: string;
  let services: ChildProcess | undefined;
  const gwConfigs = {} as Record<Gw, string>;
  const gwNodes = {} as Record<Gw, NodeProcess>;
  let threebot: NodeProcess;
  let threebotConfig: string;
  const secret = randomBytes(16).toString('hex');
  const ip = (host: string): string => lan.host(host).ip;
  /** Logs of every node, for failure messages. */
  const logs = (): string =>
    [...GATEWAYS.map((g) => [g, gwNodes[g]] as const), ['threebot', threebot] as const]
      .map(([n, p]) => `--- ${n}:\n${p?.stderr.split('\n').slice(-25).join('\n') ?? ''}`)
      .join('\n');

  before(async () => {
    await Lan.requireRoot();
    for (const [tool, pkg] of [['curl', 'curl'], ['openssl', 'openssl'], ['dig', 'dnsutils'], ['nft', 'nftables'], ['nsenter', 'util-linux']]) {
      await exec('sh', ['-c', `command -v ${tool}`]).catch(() => {
        throw new Error(`${tool} is missing: apt-get install -y ${pkg} (scripts/setup.sh --test does it)`);
      });
    }
    dir = await tempDir('plexus-tunnel-e2e-');
    await lan.create(['explorer', 'gw1', 'gw2', 'visitor']);
    await nat.create();
    await makeCertificates(dir);
    services = await startServices(nat, dir);

    const master = ip('explorer');
    await writeFile(join(dir, 'redis.pass'), 'e2e-master-secret\n', { mode: 0o600 });
    const explorerConfig = await writeConfig(
      dir,
      'explorer',
      `node:
  name: explorer
  dataDir: ${join(dir, 'explorer')}
  listen: [/ip4/${master}/tcp/4001]
plugins:
  store: { bind: ${master}, port: 6378, passwordFile: ${join(dir, 'redis.pass')} }
  phonebook: {}
  # Names exposed to a tunnel client point at both routers.
  gateway: { zones: [${ZONE}], publicIps: [${ip('gw1')}, ${ip('gw2')}] }
`,
    );
    for (const gw of GATEWAYS) {
      gwConfigs[gw] = await writeConfig(
        dir,
        gw,
        `node:
  name: ${gw}
  dataDir: ${join(dir, gw)}
  listen: [/ip4/${ip(gw)}/tcp/4001]
plugins:
  store:
    mode: replica
    port: 6379
    replicaOf: { host: ${master}, port: 6378, passwordFile: ${join(dir, 'redis.pass')} }
  dns: { listen: ['${ip(gw)}:53'], zones: [${ZONE}] }
  tcprouter:
    listen: { http: '${ip(gw)}:80', tls: '${ip(gw)}:443', clients: '${ip(gw)}:${CLIENTS_PORT}' }
`,
      );
    }
    const explorer = await NodeProcess.start(explorerConfig, 30_000, lan.wrap('explorer', []));
    await Promise.all(GATEWAYS.map(async (g) => (gwNodes[g] = await NodeProcess.start(gwConfigs[g], 30_000, lan.wrap(g, [])))));

    // The threebot registers itself, from behind the NAT, with a user key of its own.
    const key = join(dir, `${NAME}.key`);
    const cli = (args: string[]) => runCli([...args, '--key', key, '--explorer', explorer.multiaddr, '--json'], {}, 30_000, nat.wrap([]));
    const reg = await cli(['phonebook', 'register', '--name', NAME, '--email', `${NAME}@example.org`]);
    assert.equal(reg.code, 0, `phonebook register: ${reg.stdout}${reg.stderr}`);
    const exp = await cli(['gateway', 'expose', '--name', NAME, '--client-secret', secret]);
    assert.equal(exp.code, 0, `gateway expose: ${exp.stdout}${exp.stderr}`);
    assert.equal(exp.json.fqdn, FQDN);

    await writeFile(join(dir, 'tunnel.secret'), `${secret}\n`, { mode: 0o600 });
    threebotConfig = await writeConfig(
      dir,
      'threebot',
      `node:
  name: threebot
  dataDir: ${join(dir, 'threebot')}
  listen: [/ip4/127.0.0.1/tcp/4001]
plugins:
  tunnel:
    remotes: ['${ip('gw1')}:${CLIENTS_PORT}', '${ip('gw2')}:${CLIENTS_PORT}']
    secretFile: ${join(dir, 'tunnel.secret')}
    local: '127.0.0.1:${HTTP_PORT}'
    localTls: '127.0.0.1:${HTTPS_PORT}'
`,
    );
    threebot = await NodeProcess.start(threebotConfig, 30_000, nat.wrap([]));
  });

  after(async () => {
    services?.kill('SIGKILL');
    await killAllNodes();
    await nat.destroy();
    await lan.destroy();
    if (dir !== undefined) await removeDir(dir);
  });

  /** GET /status from a node's admin socket (what `plexus status --json` prints), without a CLI start-up per poll. */
  const statusOf = (dataDir: string): Promise<any> => adminStatus(join(dir, dataDir, 'admin.sock'));
  const sessionsOn = async (gw: Gw): Promise<number> => Number((await statusOf(gw).catch(() => undefined))?.plugins?.tcprouter?.tunnel?.sessions ?? 0);
  const remoteStates = async (): Promise<Record<string, string>> => {
    const st = await statusOf('threebot').catch(() => undefined);
    const remotes = (st?.plugins?.tunnel?.remotes ?? []) as { remote?: string; address?: string; state?: string }[];
    return Object.fromEntries(remotes.map((r) => [r.remote ?? r.address ?? '?', r.state ?? '?']));
  };
  const remoteOf = (gw: Gw): string => `${ip(gw)}:${CLIENTS_PORT}`;

  /** `curl` from the visitor: `scheme://FQDN/path` with FQDN resolved to `addrs` (tried in that order). */
  async function fetch(scheme: 'http' | 'https', addrs: string[], path = '/', extra: string[] = []): Promise<{ code: number; body: string; stderr: string }> {
    const port = scheme === 'http' ? 80 : 443;
    const argv = ['curl', '-sS', '--max-time', '10', '--connect-timeout', '3', '--resolve', `${FQDN}:${port}:${addrs.join(',')}`, ...(scheme === 'https' ? ['--cacert', join(dir, 'ca.pem')] : []), ...extra, `${scheme}://${FQDN}${path}`];
    try {
      const { stdout, stderr } = await lan.run('visitor', argv, 15_000);
      return { code: 0, body: stdout, stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: typeof e.code === 'number' ? e.code : -1, body: e.stdout ?? '', stderr: e.stderr ?? String(err) };
    }
  }

  async function assertServed(scheme: 'http' | 'https', addrs: string[], what: string): Promise<void> {
    const r = await fetch(scheme, addrs);
    assert.equal(r.code, 0, `${what}: curl ${scheme} via ${addrs.join(',')} failed (exit ${r.code}): ${r.stderr}\n${logs()}`);
    const want = scheme === 'http' ? `service=http host=${FQDN} ` : `service=https host=${FQDN} sni=${FQDN} `;
    assert.ok(r.body.startsWith(`plexus-tunnel-test ${want}`), `${what}: ${scheme} via ${addrs.join(',')} answered ${JSON.stringify(r.body)}`);
  }

  async function dig(server: string): Promise<string[]> {
    try {
      const { stdout } = await lan.run('visitor', ['dig', `@${ip(server)}`, FQDN, 'A', '+short', '+time=1', '+tries=1'], 5000);
      return stdout.trim().split('\n').filter((l) => l !== '');
    } catch {
      return [];
    }
  }

  test('NAT holds: nothing on the LAN can open a connection to the threebot, which reaches out', async () => {
    // The services answer on the threebot itself, on every address...
    const local = await nat.run(['curl', '-sS', '--max-time', '3', `http://${nat.inside.ip}:${HTTP_PORT}/`]);
    assert.match(local.stdout, /service=http/);
    // ...and nobody outside gets to them: no route from a gateway or the visitor...
    for (const host of ['gw1', 'visitor']) {
      const r = await lan.run(host, ['curl', '-sS', '--connect-timeout', '1', '--max-time', '2', `http://${nat.inside.ip}:${HTTP_PORT}/`]).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
      assert.notEqual(r, 0, `${host} reached the threebot's private address`);
    }
    // ...nor with a route to the private subnet through the NAT router: it forwards only replies.
    await lan.run('visitor', ['ip', 'route', 'add', `${nat.subnet}.0/24`, 'via', nat.router!.ip]);
    try {
      const r = await lan.run('visitor', ['curl', '-sS', '--connect-timeout', '1', '--max-time', '2', `http://${nat.inside.ip}:${HTTP_PORT}/`]).then(
        () => 0,
        (err: { code?: number }) => err.code ?? -1,
      );
      assert.notEqual(r, 0, `the visitor reached the threebot through the NAT router:\n${await nat.ruleset()}`);
    } finally {
      await lan.run('visitor', ['ip', 'route', 'del', `${nat.subnet}.0/24`]);
    }
    // Out is open (it registered its name through the NAT in before()): DNS over UDP as well.
    const { stdout } = await nat.run(['dig', `@${ip('gw1')}`, FQDN, 'A', '+short', '+time=1', '+tries=2'], 5000);
    assert.deepEqual(stdout.trim().split('\n').sort(), [ip('gw1'), ip('gw2')].sort());
  });

  test('the tunnel is up on both gateways; the visitor fetches HTTP by Host and HTTPS by SNI through each', async () => {
    for (const gw of GATEWAYS) await until(`${gw} holds a tunnel session`, async () => (await sessionsOn(gw)) >= 1, 20_000, logs);
    await until('the threebot sees both remotes up', async () => Object.values(await remoteStates()).filter((s) => s === 'up').length === 2, 5_000, async () => JSON.stringify(await remoteStates()));
    const states = await remoteStates();
    for (const gw of GATEWAYS) assert.equal(states[remoteOf(gw)], 'up', JSON.stringify(states));
    // The same through the command operators use.
    for (const gw of GATEWAYS) {
      const st = await runCli(['status', '--config', gwConfigs[gw], '--json']);
      assert.equal(st.code, 0, st.stderr);
      assert.ok(st.json.plugins.tcprouter.tunnel.sessions >= 1, JSON.stringify(st.json.plugins.tcprouter));
    }
    const own = await runCli(['status', '--config', threebotConfig, '--json']);
    assert.equal(own.code, 0, own.stderr);
    assert.equal(own.json.plugins.tunnel.up, 2, JSON.stringify(own.json.plugins.tunnel));

    // DNS on either gateway answers with both routers' addresses; each of them serves both services.
    for (const dns of GATEWAYS) {
      const answer = await dig(dns);
      assert.deepEqual([...answer].sort(), [ip('gw1'), ip('gw2')].sort(), `dig @${dns} ${FQDN}`);
      for (const addr of answer) {
        await assertServed('http', [addr], `resolved by ${dns}`);
        await assertServed('https', [addr], `resolved by ${dns}`);
      }
    }

    // More than the 256 KiB yamux window each way, so window updates must flow: 1 MiB up, 3 MiB down.
    const up = join(dir, 'upload.bin');
    await writeFile(up, randomBytes(1 << 20));
    for (const scheme of ['http', 'https'] as const) {
      const r = await fetch(scheme, [ip('gw1')], '/upload', ['--data-binary', `@${up}`]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.body, new RegExp(`service=${scheme} .*method=POST path=/upload received=${1 << 20}\\n`));
      const down = await fetch(scheme, [ip('gw2')], `/bytes/${3 << 20}`, ['-o', '/dev/null', '-w', '%{size_download}']);
      assert.equal(down.code, 0, down.stderr);
      assert.equal(down.body, String(3 << 20), `${scheme} download through gw2`);
    }

    // The gateways saw the tunnel come from the NAT router's LAN address (masquerade), never the private one.
    for (const gw of GATEWAYS) {
      const tunnel = (await statusOf(gw)).plugins.tcprouter.tunnel as { secrets: { clients: string[] }[] };
      const clients = tunnel.secrets.flatMap((s) => s.clients);
      assert.ok(clients.length >= 1 && clients.every((c) => c.startsWith(`${nat.router!.ip}:`)), `${gw} tunnel clients: ${JSON.stringify(tunnel)}`);
    }
  });

  test('with gw1 killed, the visitor still reaches both services through gw2', async () => {
    gwNodes.gw1.killGroup('SIGKILL');
    await gwNodes.gw1.waitExit();
    await until('the threebot sees gw1 down', async () => (await remoteStates())[remoteOf('gw1')] !== 'up', 10_000, async () => JSON.stringify(await remoteStates()));
    assert.equal((await remoteStates())[remoteOf('gw2')], 'up');
    assert.ok((await sessionsOn('gw2')) >= 1);

    // gw2's DNS still hands out both addresses (it does not health-check); a client that tries
    // them in turn gets through, and gw2 alone serves both services.
    const answer = await dig('gw2');
    assert.deepEqual([...answer].sort(), [ip('gw1'), ip('gw2')].sort());
    const gw1First = [ip('gw1'), ip('gw2')];
    await assertServed('http', gw1First, 'gw1 dead, DNS order gw1,gw2');
    await assertServed('https', gw1First, 'gw1 dead, DNS order gw1,gw2');
    for (let i = 0; i < 5; i++) {
      await assertServed('http', [ip('gw2')], `gw1 dead, request ${i}`);
      await assertServed('https', [ip('gw2')], `gw1 dead, request ${i}`);
    }
  });

  test('gw1 restarted: its tunnel is back within 2 s of its router listening, and serves again', async (t) => {
    const restarted = await NodeProcess.start(gwConfigs.gw1, 30_000, lan.wrap('gw1', []));
    gwNodes.gw1 = restarted;
    // When the clients port started listening: the router's own log line says so, with its time.
    const listening = await restarted.waitForLog((l) => l.scope === 'tcprouter' && typeof l.clients === 'string', 10_000);
    const listeningAt = Number(listening.time);
    await until('gw1 holds a tunnel session again', async () => (await sessionsOn('gw1')) >= 1, 15_000, logs, 10);
    const backAfter = Date.now() - listeningAt;
    t.diagnostic(`tunnel back on gw1 ${backAfter} ms after its clients port listened`);
    assert.ok(backAfter < 2000, `the tunnel to gw1 came back ${backAfter} ms after its clients port listened (limit 2000 ms)\n${logs()}`);
    await until('the threebot sees gw1 up', async () => (await remoteStates())[remoteOf('gw1')] === 'up', 5_000, async () => JSON.stringify(await remoteStates()));

    await assertServed('http', [ip('gw1')], 'gw1 restarted');
    await assertServed('https', [ip('gw1')], 'gw1 restarted');
    await assertServed('http', [ip('gw2')], 'gw2 after gw1 restarted');
    assert.deepEqual((await dig('gw1')).sort(), [ip('gw1'), ip('gw2')].sort());
  });

  test('threebot killed: both gateways drop its sessions at once and answer 502, never hang', async () => {
    threebot.killGroup('SIGKILL');
    await threebot.waitExit();
    for (const gw of GATEWAYS) await until(`${gw} drops the dead session`, async () => (await sessionsOn(gw)) === 0, 3_000, logs);
    for (const gw of GATEWAYS) {
      const r = await fetch('http', [ip(gw)], '/', ['-o', '/dev/null', '-w', '%{http_code}']);
      assert.equal(r.body, '502', `${gw}: ${JSON.stringify(r)}`);
    }
  });
});

/** Polls `cond` until it holds (a condition with a deadline, never a sleep). */
async function until(what: string, cond: () => Promise<boolean>, timeoutMs: number, detail?: () => string | Promise<string>, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}${detail === undefined ? '' : `\n${await detail()}`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** GET /status over a node's admin socket. */
function adminStatus(socketPath: string): Promise<any> {
  return adminGet(socketPath, '/status', 2000);
}

/** A test CA and a leaf for FQDN signed by it (ECDSA P-256, one day), with openssl. */
async function makeCertificates(dir: string): Promise<void> {
  const ssl = (...args: string[]) => exec('openssl', args, { cwd: dir });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=plexus tunnel e2e test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  await ssl('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', `/CN=${FQDN}`);
  await writeFile(join(dir, 'leaf.ext'), `subjectAltName=DNS:${FQDN}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
  await ssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '1', '-extfile', 'leaf.ext');
}

/** The threebot's HTTP and HTTPS services (test/fixtures/tunnel-services.js), inside its namespace. */
async function startServices(nat: NatHost, dir: string): Promise<ChildProcess> {
  const fixture = join(ROOT, 'test/fixtures/tunnel-services.js');
  const argv = nat.wrap([process.execPath, fixture, '--host', '0.0.0.0', '--http-port', String(HTTP_PORT), '--https-port', String(HTTPS_PORT), '--cert', join(dir, 'leaf.pem'), '--key', join(dir, 'leaf.key')]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tunnel-services did not start in 10 s: ${err}`)), 10_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('"ready":true')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tunnel-services exited (${code}): ${err}`));
    });
  });
  return child;
}
