import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './harness.js';

const exec = promisify(execFile);

/**
 * A real `pebble` (Debian package `pebble`, Let's Encrypt's ACME test server) on free loopback
 * ports, with its own HTTPS certificate made by openssl in `dir` (one pebble per dir at a time). Its CA root and intermediate
 * (new at every start) are fetched from the management interface for `openssl verify`.
 */
export interface Pebble {
  /** ACME directory URL. */
  directory: string;
  /** PEM of the CA that signed pebble's HTTPS certificate (what `caCertFile` points at). */
  tlsCaFile: string;
  /** Pebble's issuing root and intermediate, as files. */
  rootFile: string;
  intermediateFile: string;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Where pebble resolves names (DNS-01 TXT and HTTP-01 A lookups): our DNS node. */
  dnsServer: string;
  /** Port pebble connects to for HTTP-01 (the router's HTTP port). */
  httpPort: number;
  /** Lifetime of the certificates it issues, in seconds (pebble's default: 5 years). */
  validitySeconds?: number;
  /** Names it refuses to issue for (pebble's `domainBlocklist`). */
  blocklist?: string[];
  /** Fixed ports (a restarted pebble at the same directory URL); free ports when absent. */
  ports?: { acme: number; mgmt: number };
}

/** openssl: a CA and a certificate for 127.0.0.1/localhost signed by it (pebble's HTTPS listener). */
async function tlsFiles(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, 'pebble-tls-ca.pem');
  const caKey = join(dir, 'pebble-tls-ca.key');
  const cert = join(dir, 'pebble-tls.pem');
  const key = join(dir, 'pebble-tls.key');
  try {
    await readFile(cert);
    return { ca, cert, key };
  } catch {
    // made below
  }
  await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=plexus test ACME TLS CA', '-keyout', caKey, '-out', ca]);
  await exec('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', `${cert}.csr`]);
  await writeFile(join(dir, 'pebble-tls.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  await exec('openssl', ['x509', '-req', '-in', `${cert}.csr`, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', join(dir, 'pebble-tls.ext'), '-out', cert]);
  return { ca, cert, key };
}

function fetchPem(url: string, ca: string): Promise<string> {
  return new Promise((res, rej) => {
    get(url, { agent: new Agent({ ca }) }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => (r.statusCode === 200 ? res(body) : rej(new Error(`${url}: HTTP ${r.statusCode}`))));
    }).on('error', rej);
  });
}

export async function startPebble(dir: string, opts: PebbleOptions): Promise<Pebble> {
  // `pebble -h` exits 2 after printing its flags; only a missing binary matters here.
  await exec('pebble', ['-h']).catch((err: { code?: unknown }) => {
    if (err.code === 'ENOENT') throw new Error('pebble is not installed: apt-get install -y pebble');
  });
  const tls = await tlsFiles(dir);
  const [acmePort, mgmtPort] = opts.ports === undefined ? [await freePort(), await freePort()] : [opts.ports.acme, opts.ports.mgmt];
  const config = join(dir, 'pebble.json');
  await writeFile(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: tls.cert,
        privateKey: tls.key,
        httpPort: opts.httpPort,
        tlsPort: 5001,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(opts.validitySeconds === undefined ? {} : { certificateValidityPeriod: opts.validitySeconds }),
        ...(opts.blocklist === undefined ? {} : { domainBlocklist: opts.blocklist }),
      },
    }),
  );
  // No random validation sleeps, no random bad-nonce rejections: the tests wait for conditions, not luck.
  const child: ChildProcess = spawn('pebble', ['-config', config, '-dnsserver', opts.dnsServer], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const ca = await readFile(tls.ca, 'utf8');
  const deadline = Date.now() + 20_000;
  let root: string | undefined;
  while (root === undefined) {
    try {
      root = await fetchPem(`https://127.0.0.1:${mgmtPort}/roots/0`, ca);
    } catch (err) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`pebble did not start: ${(err as Error).message}\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const intermediate = await fetchPem(`https://127.0.0.1:${mgmtPort}/intermediates/0`, ca);
  const rootFile = join(dir, 'pebble-root.pem');
  const intermediateFile = join(dir, 'pebble-intermediate.pem');
  await writeFile(rootFile, root);
  await writeFile(intermediateFile, intermediate);
  return {
    directory: `https://127.0.0.1:${acmePort}/dir`,
    tlsCaFile: tls.ca,
    rootFile,
    intermediateFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `openssl verify` of a chain file against pebble's root; resolves with openssl's output. */
export async function verifyChain(pebble: Pebble, chainFile: string, dir: string, tag = 'leaf'): Promise<string> {
  const pem = await readFile(chainFile, 'utf8');
  const leaf = pem.slice(0, pem.indexOf('-----END CERTIFICATE-----') + '-----END CERTIFICATE-----'.length);
  const leafFile = join(dir, `${tag}.pem`);
  await writeFile(leafFile, `${leaf}\n`);
  // The intermediate as the chain carries it: the leaf must chain through what we deliver, not what pebble has.
  const rest = join(dir, `${tag}-chain.pem`);
  await writeFile(rest, pem.slice(leaf.length).trim() + '\n');
  const { stdout } = await exec('openssl', ['verify', '-CAfile', pebble.rootFile, '-untrusted', rest, leafFile]);
  return stdout.trim();
}
