import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NodeProcess, freePort, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';
import { type Pebble, startPebble, verifyChain } from './lib/pebble.js';

const exec = promisify(execFile);
const ZONE = 'threebot.gateway.tf';

/**
 * The acme plugin against a real pebble, with real plexus nodes on loopback:
 *
 * - `explorer`: store master, phonebook, gateway, dns (:dnsE), tcprouter (:http), acme serving
 *   `cert_issue` and keeping one HTTP-01 certificate of its own;
 * - `dns2`: a store replica with a second dns (:dnsR);
 * - threebots `alice` (DNS-01 wildcard through the gateway over signed RPC), `carol` (crashed
 *   mid-order), `dave` (short-lived certificates from a second pebble: renewal, then refusal).
 *
 * Pebble resolves every name through the explorer's DNS and validates HTTP-01 on the router's port.
 */
describe('acme: certificates from a real ACME server (pebble)', () => {
  let dir: string;
  let pebble: Pebble;
  let explorer: NodeProcess;
  let dns2: NodeProcess;
  let dns2Config: string;
  const ports = { redis: 0, dnsE: 0, dnsR: 0, http: 0, tls: 0, clients: 0, p2p: 0 };

  const dig = async (port: number, name: string, type = 'TXT'): Promise<string> => {
    const { stdout } = await exec('dig', ['@127.0.0.1', '-p', String(port), name, type, '+short', '+time=1', '+tries=1'], { timeout: 5000 }).catch(() => ({ stdout: 'error' }));
    return stdout.trim();
  };
  async function until<T>(what: string, fn: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T;
    for (;;) {
      last = await fn();
      if (pred(last)) return last;
      if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const cli = (args: string[], key?: string) => runCli([...args, ...(key === undefined ? [] : ['--key', key]), '--explorer', explorer.multiaddr, '--json'], {}, 120_000);
  const ok = async (args: string[], key?: string) => {
    const r = await cli(args, key);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r;
  };

  /** Config of a threebot node whose key owns `name`, with an acme block. */
  async function threebot(name: string, acme: string): Promise<{ file: string; dataDir: string; key: string }> {
    const dataDir = join(dir, name);
    const file = await writeConfig(
      dir,
      name,
      `node:
  name: ${name}
  dataDir: ${dataDir}
  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]
  explorer: ['${explorer.multiaddr}']
plugins:
  acme:
${acme}`,
    );
    const id = await runCli(['id', '--config', file, '--create', '--json']);
    assert.equal(id.code, 0, id.stderr);
    const key = join(dataDir, 'identity.key');
    await ok(['phonebook', 'register', '--name', name, '--email', `${name}@example.org`], key);
    return { file, dataDir, key };
  }

  const acmeBlock = (pebbleDir: Pebble, extra: string) => `    directory: ${pebbleDir.directory}
    caCertFile: ${pebbleDir.tlsCaFile}
    email: ops@example.org
    retryMinSeconds: 1
    retryMaxSeconds: 2
    jitterSeconds: 0
${extra}`;

  before(async () => {
    dir = await tempDir('plexus-acme-e2e-');
    for (const k of Object.keys(ports) as (keyof typeof ports)[]) ports[k] = await freePort();
    pebble = await startPebble(dir, { dnsServer: `127.0.0.1:${ports.dnsE}`, httpPort: ports.http });
    await writeFile(join(dir, 'redis.pass'), 'acme-e2e-secret\n', { mode: 0o600 });
    const explorerFile = await writeConfig(
      dir,
      'explorer',
      `node:
  name: explorer
  dataDir: ${join(dir, 'explorer')}
  listen: [/ip4/127.0.0.1/tcp/${ports.p2p}]
plugins:
  store: { port: ${ports.redis}, passwordFile: ${join(dir, 'redis.pass')} }
  phonebook: {}
  gateway: { zones: [${ZONE}], publicIps: [127.0.0.1] }
  dns: { listen: ['127.0.0.1:${ports.dnsE}'], zones: [${ZONE}] }
  tcprouter:
    listen: { http: '127.0.0.1:${ports.http}', tls: '127.0.0.1:${ports.tls}', clients: '127.0.0.1:${ports.clients}' }
  acme:
${acmeBlock(pebble, `    serveIssue: true
    dnsServers: ['127.0.0.1:${ports.dnsE}', '127.0.0.1:${ports.dnsR}']
    retryMinSeconds: 3600
    retryMaxSeconds: 3600
    certificates: [ { names: [www.bob.${ZONE}], challenge: http-01 } ]`).replace(/    retryMinSeconds: 1\n    retryMaxSeconds: 2\n/, '')}`,
    );
    explorer = await NodeProcess.start(explorerFile);
    dns2Config = await writeConfig(
      dir,
      'dns2',
      `node:
  name: dns2
  dataDir: ${join(dir, 'dns2')}
  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]
plugins:
  store:
    mode: replica
    port: ${await freePort()}
    replicaOf: { host: 127.0.0.1, port: ${ports.redis}, passwordFile: ${join(dir, 'redis.pass')} }
  dns: { listen: ['127.0.0.1:${ports.dnsR}'], zones: [${ZONE}] }
`,
    );
    dns2 = await NodeProcess.start(dns2Config);
    // bob: a user key (no node of its own) owning `bob`, with www.bob pointing at the router.
    const bobKey = join(dir, 'bob.key');
    await ok(['phonebook', 'register', '--name', 'bob', '--email', 'bob@example.org'], bobKey);
    await ok(['gateway', 'register-a', '--name', 'www.bob', '--ip', '127.0.0.1'], bobKey);
    await ok(['phonebook', 'register', '--name', 'erin', '--email', 'erin@example.org'], join(dir, 'erin.key'));
  });

  after(async () => {
    await killAllNodes();
    await pebble?.stop();
    await removeDir(dir);
  });

  test('DNS-01 wildcard: TXT written through the gateway, served by both DNS nodes, chain verifies, TXT removed, files 0600', async () => {
    const alice = await threebot(
      'alice',
      acmeBlock(pebble, `    dnsServers: ['127.0.0.1:${ports.dnsE}', '127.0.0.1:${ports.dnsR}']
    certificates: [ { names: ['*.alice.${ZONE}', alice.${ZONE}] } ]`),
    );
    const node = await NodeProcess.start(alice.file);
    // The CA was asked only once both DNS nodes answered the TXT values.
    const answered = await node.waitForLog((l) => l.msg === 'acme: every DNS server answers the challenge', 60_000);
    assert.deepEqual(answered.servers, [`127.0.0.1:${ports.dnsE}`, `127.0.0.1:${ports.dnsR}`]);
    assert.deepEqual(answered.names, [`_acme-challenge.alice.${ZONE}`]);
    await node.waitForLog((l) => l.msg === 'acme: certificate issued', 60_000);
    const certDir = join(alice.dataDir, 'acme', 'certs', `_wildcard.alice.${ZONE}`);
    assert.match(await verifyChain(pebble, join(certDir, 'fullchain.pem'), dir, 'alice'), /: OK$/);
    const { stdout: text } = await exec('openssl', ['x509', '-noout', '-ext', 'subjectAltName', '-in', join(dir, 'alice.pem')]);
    assert.match(text, new RegExp(`DNS:\\*\\.alice\\.${ZONE.replace(/\./g, '\\.')}`));
    for (const f of ['fullchain.pem', 'key.pem', 'state.json']) assert.equal((await stat(join(certDir, f))).mode & 0o777, 0o600, f);
    assert.equal((await stat(join(alice.dataDir, 'acme', 'account.key'))).mode & 0o777, 0o600);
    // Both challenge values are gone from both DNS nodes.
    for (const p of [ports.dnsE, ports.dnsR]) await until(`TXT on :${p}`, () => dig(p, `_acme-challenge.alice.${ZONE}`), (a) => a === '');
    const list = await runCli(['cert', 'list', '--config', alice.file, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(list.json[0].names, [`*.alice.${ZONE}`, `alice.${ZONE}`]);
    assert.ok(Date.parse(list.json[0].notAfter) > Date.now());
    const status = await runCli(['status', '--config', alice.file, '--json']);
    assert.equal(JSON.stringify(status.json).includes(list.json[0].notAfter), true, status.stdout);
    await node.stop();
  });

  test('HTTP-01 through the router: the explorer gets www.bob; the router answers only pending tokens', async () => {
    await until('A www.bob', () => dig(ports.dnsE, `www.bob.${ZONE}`, 'A'), (a) => a === '127.0.0.1');
    const r = await runCli(['cert', 'renew', '--config', explorer.configFile, '--name', `www.bob.${ZONE}`, '--json'], {}, 120_000);
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}\n${explorer.stderr.slice(-3000)}`);
    assert.match(await verifyChain(pebble, r.json.fullchain, dir, 'bob'), /: OK$/);
    // No token pending: the request goes on to the route (none here: 404), never a stale answer.
    const { stdout } = await exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: www.bob.${ZONE}`, `http://127.0.0.1:${ports.http}/.well-known/acme-challenge/abcdef`]);
    assert.equal(stdout, '404');
  });

  test('plexus cert issue: a name owner gets its certificate for its own key; another name is refused', async () => {
    const bobKey = join(dir, 'bob.key');
    const out = join(dir, 'bob-cert');
    const r = await ok(['cert', 'issue', '--name', `bob.${ZONE}`, `*.bob.${ZONE}`, '--out', out], bobKey);
    assert.deepEqual(r.json.names, [`bob.${ZONE}`, `*.bob.${ZONE}`]);
    assert.match(await verifyChain(pebble, join(out, 'fullchain.pem'), dir, 'bob-issued'), /: OK$/);
    assert.equal((await stat(join(out, 'key.pem'))).mode & 0o777, 0o600);
    // The certificate is for the key that stayed with bob.
    const pub = async (args: string[]) => (await exec('openssl', args)).stdout;
    assert.equal(await pub(['x509', '-noout', '-pubkey', '-in', join(dir, 'bob-issued.pem')]), await pub(['pkey', '-pubout', '-in', join(out, 'key.pem')]));
    const refused = await cli(['cert', 'issue', '--name', `erin.${ZONE}`, '--out', join(dir, 'stolen')], bobKey);
    assert.equal(refused.code, 1, refused.stdout);
    assert.equal(refused.json.error.code, 'ERR_FORBIDDEN');
    await until('TXT bob', () => dig(ports.dnsE, `_acme-challenge.bob.${ZONE}`), (a) => a === '');
  });

  test('a crash mid-order (kill -9 while waiting for DNS) resumes the order after restart and leaves no TXT behind', async () => {
    const carol = await threebot(
      'carol',
      acmeBlock(pebble, `    dnsServers: ['127.0.0.1:${ports.dnsE}', '127.0.0.1:${ports.dnsR}']
    certificates: [ { names: [carol.${ZONE}] } ]`),
    );
    // The second DNS node is down: the order waits for it with its TXT published.
    await dns2.stop();
    let node = await NodeProcess.start(carol.file);
    await until('TXT carol', () => dig(ports.dnsE, `_acme-challenge.carol.${ZONE}`), (a) => a.startsWith('"'));
    const state = JSON.parse(await readFile(join(carol.dataDir, 'acme', 'certs', `carol.${ZONE}`, 'state.json'), 'utf8'));
    assert.ok(state.order, 'the order in progress is on disk');
    node.killGroup('SIGKILL');
    await node.waitExit();
    dns2 = await NodeProcess.start(dns2Config);
    node = await NodeProcess.start(carol.file);
    const resumed = await node.waitForLog((l) => l.msg === 'acme: resuming order', 30_000);
    assert.equal(resumed.order, state.order);
    await node.waitForLog((l) => l.msg === 'acme: certificate issued', 60_000);
    assert.match(await verifyChain(pebble, join(carol.dataDir, 'acme', 'certs', `carol.${ZONE}`, 'fullchain.pem'), dir, 'carol'), /: OK$/);
    for (const p of [ports.dnsE, ports.dnsR]) await until(`TXT carol :${p}`, () => dig(p, `_acme-challenge.carol.${ZONE}`), (a) => a === '');
    await node.stop();
  });

  test('short-lived certificates renew before expiry (hook runs); a CA refusal keeps the old certificate', async () => {
    const pebbleDir = join(dir, 'short');
    await exec('mkdir', ['-p', pebbleDir]);
    const fixed = { acme: await freePort(), mgmt: await freePort() };
    let short = await startPebble(pebbleDir, { dnsServer: `127.0.0.1:${ports.dnsE}`, httpPort: ports.http, validitySeconds: 30, ports: fixed });
    try {
      const hookLog = join(dir, 'hook.log');
      const dave = await threebot(
        'dave',
        acmeBlock(short, `    dnsServers: ['127.0.0.1:${ports.dnsE}']
    onRenew: { command: [sh, -c, 'echo "$PLEXUS_CERT_NAMES $PLEXUS_CERT_NOT_AFTER" >> ${hookLog}'] }
    certificates: [ { names: [dave.${ZONE}] } ]`),
      );
      const node = await NodeProcess.start(dave.file);
      const certDir = join(dave.dataDir, 'acme', 'certs', `dave.${ZONE}`);
      // 30 s certificates renew a third of their lifetime before expiry: the second one comes ~20 s after the first.
      const first = await node.waitForLog((l) => l.msg === 'acme: certificate issued', 60_000);
      const second = await node.waitForLog((l) => l.msg === 'acme: certificate issued' && l.notAfter !== first.notAfter, 60_000);
      // Seen (so issued) before the first one expired.
      assert.ok(Date.now() < Date.parse(first.notAfter), `renewed at ${new Date().toISOString()}, first expired ${first.notAfter}`);
      assert.ok(Date.parse(second.notAfter) > Date.parse(first.notAfter));
      const hook = await until('hook', () => readFile(hookLog, 'utf8').catch(() => ''), (t) => t.split('\n').filter(Boolean).length >= 2);
      assert.match(hook, new RegExp(`^dave\\.${ZONE.replace(/\./g, '\\.')} \\d{4}-`));
      assert.match(await verifyChain(short, join(certDir, 'fullchain.pem'), dir, 'dave'), /: OK$/);

      // The CA now refuses the name (pebble's domainBlocklist): the renewal fails clearly, nothing is replaced.
      await short.stop();
      short = await startPebble(pebbleDir, { dnsServer: `127.0.0.1:${ports.dnsE}`, httpPort: ports.http, validitySeconds: 30, ports: fixed, blocklist: [`dave.${ZONE}`] });
      const before = await readFile(join(certDir, 'fullchain.pem'), 'utf8');
      const r = await runCli(['cert', 'renew', '--config', dave.file, '--name', `dave.${ZONE}`, '--json'], {}, 60_000);
      assert.equal(r.code, 1, r.stdout);
      assert.equal(r.json.error.code, 'ERR_ACME_REFUSED', node.stderr.slice(-4000));
      assert.match(r.json.error.message, /dave\.threebot\.gateway\.tf/, node.stderr.slice(-6000));
      assert.equal(await readFile(join(certDir, 'fullchain.pem'), 'utf8'), before);
      const list = await runCli(['cert', 'list', '--config', dave.file, '--json']);
      assert.equal(list.json[0].lastError.code, 'ERR_ACME_REFUSED');
      assert.ok(list.json[0].notAfter, 'the old certificate is still the one in use');
      await node.stop();
    } finally {
      await short.stop();
    }
  });
});
