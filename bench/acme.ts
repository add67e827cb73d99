import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as acme from 'acme-client';
import { RpcClient, loadIdentity } from '@plexus/core';
import { parseArgs, positiveNumber, usageError } from './lib/args.js';
import { installCleanup, makeTempDir } from './lib/cleanup.js';
import { PLEXUS_BIN, PlexusProcess } from './lib/plexus-node.js';
import { freePort } from './lib/ports.js';
import { percentile, round, sortedCopy } from './lib/stats.js';
import { formatTable } from './lib/table.js';

/**
 * Time to a certificate against a real pebble (Debian `pebble`), p50 over N issuances each:
 *  - plexus DNS-01: `cert_issue` over signed RPC to an explorer (store, phonebook, gateway, dns,
 *    tcprouter, acme): ownership check, TXT written through the gateway, waited for on TWO DNS
 *    nodes (the explorer's and a replica's), validated by pebble through our DNS, finalized;
 *  - plexus HTTP-01: the same with the key authorization served by the router's HTTP port;
 *  - reference, same run: plain acme-client `auto()` against a second pebble whose challenges are
 *    answered by `pebble-challtestsrv` (pebble's own mock DNS/HTTP server), set over its API.
 * Each run makes its key and CSR (P-256) and starts from account lookup. Never fails on a number.
 */
const USAGE = `usage: node bench/dist/acme.js [--count N] [--json]
  --count N  issuances per row (default 10)
  --json     results as JSON on stdout; the table goes to stderr
`;
const exec = promisify(execFile);
const ZONE = 'bench.gateway.tf';
const ACME_PROTOCOL = '/plexus/acme/1';

async function pebbleTls(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const f = (n: string) => join(dir, n);
  await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=bench ACME TLS CA', '-keyout', f('ca.key'), '-out', f('ca.pem')]);
  await exec('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', f('tls.key'), '-out', f('tls.csr')]);
  await writeFile(f('tls.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await exec('openssl', ['x509', '-req', '-in', f('tls.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '1', '-extfile', f('tls.ext'), '-out', f('tls.pem')]);
  return { ca: f('ca.pem'), cert: f('tls.pem'), key: f('tls.key') };
}

const children: ChildProcess[] = [];

/** Starts a Debian binary in the background and waits until `port` accepts connections. */
async function startTool(cmd: string, args: string[], port: number, env: Record<string, string> = {}): Promise<void> {
  const child = spawn(cmd, args, { stdio: 'ignore', env: { ...process.env, ...env } });
  children.push(child);
  child.once('error', (err) => usageError(`${cmd}: ${err.message} (apt-get install -y pebble)`));
  const { connect } = await import('node:net');
  const deadline = Date.now() + 20_000;
  for (;;) {
    const up = await new Promise<boolean>((res) => connect(port, '127.0.0.1').once('connect', function (this: import('node:net').Socket) { this.destroy(); res(true); }).once('error', () => res(false)));
    if (up) return;
    if (Date.now() > deadline) throw new Error(`${cmd} did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function startPebble(dir: string, tag: string, tls: { cert: string; key: string }, dnsServer: string, httpPort: number): Promise<string> {
  const port = await freePort();
  const config = join(dir, `pebble-${tag}.json`);
  await writeFile(config, JSON.stringify({ pebble: { listenAddress: `127.0.0.1:${port}`, managementListenAddress: `127.0.0.1:${await freePort()}`, certificate: tls.cert, privateKey: tls.key, httpPort, tlsPort: 5001, ocspResponderURL: '', externalAccountBindingRequired: false } }));
  await startTool('pebble', ['-config', config, '-dnsserver', dnsServer], port, { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' });
  return `https://127.0.0.1:${port}/dir`;
}

function post(port: number, path: string, body: unknown): Promise<void> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST' }, (r) => {
      r.resume();
      r.on('end', () => (r.statusCode === 200 ? res() : rej(new Error(`challtestsrv ${path}: HTTP ${r.statusCode}`))));
    });
    req.on('error', rej);
    req.end(JSON.stringify(body));
  });
}

async function timed(count: number, run: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await run(i);
    out.push(performance.now() - t0);
  }
  return out;
}

async function csrFor(name: string): Promise<string> {
  const key = await acme.crypto.createPrivateEcdsaKey('P-256');
  return (await acme.crypto.createCsr({ commonName: name, altNames: [name] }, key))[1].toString();
}

async function main(): Promise<void> {
  let v;
  try {
    v = parseArgs({ options: { count: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } } }).values;
  } catch (err) {
    usageError(`${(err as Error).message}\n${USAGE}`);
  }
  if (v.help === true) {
    process.stdout.write(USAGE);
    return;
  }
  const count = positiveNumber('count', v.count, 10);
  installCleanup();
  process.on('exit', () => children.forEach((c) => c.kill('SIGKILL')));
  const dir = await makeTempDir('plexus-bench-acme-');
  const tls = await pebbleTls(dir);
  const ports = { redis: await freePort(), dnsE: await freePort(), dnsR: await freePort(), http: await freePort(), p2p: await freePort() };
  await writeFile(join(dir, 'redis.pass'), 'bench-acme\n', { mode: 0o600 });
  const directory = await startPebble(dir, 'plexus', tls, `127.0.0.1:${ports.dnsE}`, ports.http);
  const explorerYaml = join(dir, 'explorer.yaml');
  await writeFile(
    explorerYaml,
    `node: { name: explorer, dataDir: ${join(dir, 'explorer')}, listen: [/ip4/127.0.0.1/tcp/${ports.p2p}], log: { level: info } }
plugins:
  store: { port: ${ports.redis}, passwordFile: ${join(dir, 'redis.pass')} }
  phonebook: {}
  gateway: { zones: [${ZONE}], publicIps: [127.0.0.1] }
  dns: { listen: ['127.0.0.1:${ports.dnsE}'], zones: [${ZONE}] }
  tcprouter: { listen: { http: '127.0.0.1:${ports.http}', tls: '127.0.0.1:${await freePort()}', clients: '127.0.0.1:${await freePort()}' } }
  acme: { directory: '${directory}', caCertFile: ${tls.ca}, serveIssue: true, dnsServers: ['127.0.0.1:${ports.dnsE}', '127.0.0.1:${ports.dnsR}'] }
`,
  );
  const dnsYaml = join(dir, 'dns.yaml');
  await writeFile(
    dnsYaml,
    `node: { name: dns2, dataDir: ${join(dir, 'dns2')}, listen: [/ip4/127.0.0.1/tcp/${await freePort()}], log: { level: info } }
plugins:
  store: { mode: replica, port: ${await freePort()}, replicaOf: { host: 127.0.0.1, port: ${ports.redis}, passwordFile: ${join(dir, 'redis.pass')} } }
  dns: { listen: ['127.0.0.1:${ports.dnsR}'], zones: [${ZONE}] }
`,
  );
  const explorer = await PlexusProcess.start(explorerYaml, { logLevel: 'info' });
  const dns2 = await PlexusProcess.start(dnsYaml, { logLevel: 'info' });
  const multiaddr = JSON.parse((await exec(PLEXUS_BIN, ['id', '--config', explorerYaml, '--json'])).stdout).multiaddrs[0] as string;
  const keyFile = join(dir, 'owner.key');
  const cli = (args: string[]) => exec(PLEXUS_BIN, [...args, '--key', keyFile, '--explorer', multiaddr, '--json'], { timeout: 30_000 });
  await cli(['phonebook', 'register', '--name', 'owner', '--email', 'owner@example.org']);
  await cli(['gateway', 'register-a', '--name', '*.owner', '--ip', '127.0.0.1']);
  const me = await loadIdentity(keyFile);
  const client = await RpcClient.connect(multiaddr, { key: me.keyPair, timeoutMs: 120_000 });

  const run = Date.now().toString(36);
  const issue = (challenge: string) => async (i: number) => {
    const csr = await csrFor(`${challenge.slice(0, 4)}${i}-${run}.owner.${ZONE}`);
    await client.call(ACME_PROTOCOL, 'cert_issue', { csr, challenge }, { signed: true });
  };
  process.stderr.write(`bench: ${count} DNS-01 and ${count} HTTP-01 issuances through plexus...\n`);
  const dns01 = await timed(count, issue('dns-01'));
  const http01 = await timed(count, issue('http-01'));
  await client.close();

  // Reference: plain acme-client against pebble + pebble-challtestsrv (no plexus anywhere).
  const cts = { dns: await freePort(), http: await freePort(), mgmt: await freePort() };
  await startTool('pebble-challtestsrv', ['-defaultIPv6', '', '-dns01', `127.0.0.1:${cts.dns}`, '-http01', `127.0.0.1:${cts.http}`, '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${cts.mgmt}`], cts.mgmt);
  const refDirectory = await startPebble(dir, 'reference', tls, `127.0.0.1:${cts.dns}`, cts.http);
  acme.axios.defaults.httpsAgent = new (await import('node:https')).Agent({ ca: await readFile(tls.ca, 'utf8'), keepAlive: true });
  const accountKey = await acme.crypto.createPrivateEcdsaKey('P-256');
  const reference = (challenge: 'dns-01' | 'http-01') => async (i: number) => {
    const refClient = new acme.Client({ directoryUrl: refDirectory, accountKey });
    const csr = await csrFor(`ref${challenge.slice(0, 4)}${i}-${run}.example.org`);
    await refClient.auto({
      csr,
      email: 'ops@example.org',
      termsOfServiceAgreed: true,
      challengePriority: [challenge],
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, ch, keyAuthorization) =>
        ch.type === 'dns-01' ? post(cts.mgmt, '/set-txt', { host: `_acme-challenge.${authz.identifier.value}.`, value: keyAuthorization }) : post(cts.mgmt, '/add-http01', { token: (ch as { token: string }).token, content: keyAuthorization }),
      challengeRemoveFn: async (authz, ch) =>
        ch.type === 'dns-01' ? post(cts.mgmt, '/clear-txt', { host: `_acme-challenge.${authz.identifier.value}.` }) : post(cts.mgmt, '/del-http01', { token: (ch as { token: string }).token }),
    });
  };
  process.stderr.write('bench: the same with plain acme-client against pebble-challtestsrv...\n');
  const refDns = await timed(count, reference('dns-01'));
  const refHttp = await timed(count, reference('http-01'));

  const p = (xs: number[], q: number) => round(percentile(sortedCopy(xs), q), 0);
  const rows = [
    ['DNS-01 (2 DNS nodes)', p(dns01, 50), p(dns01, 90), p(refDns, 50), p(refDns, 90), round(p(dns01, 50) / p(refDns, 50), 2)],
    ['HTTP-01 (router)', p(http01, 50), p(http01, 90), p(refHttp, 50), p(refHttp, 90), round(p(http01, 50) / p(refHttp, 50), 2)],
  ];
  const table = formatTable(['challenge', 'plexus p50 ms', 'plexus p90 ms', 'acme-client+challtestsrv p50 ms', 'p90 ms', 'ratio p50'], rows);
  process.stderr.write(`\n${table}\n(n=${count} each; aim: DNS-01 incl. propagation to two DNS nodes < 3000 ms p50)\n`);
  if (v.json === true) process.stdout.write(`${JSON.stringify({ count, plexus: { dns01, http01 }, reference: { dns01: refDns, http01: refHttp }, rows }, null, 2)}\n`);
  await explorer.stop();
  await dns2.stop();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
