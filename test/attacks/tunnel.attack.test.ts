import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { YamuxSession, encodeService, encodeTunnelHandshake, freePort, relay, tcprouterKey } from '@plexus/core';
import { NodeProcess, PLEXUS, killAllNodes, removeDir, runCli } from '../lib/harness.js';

const exec = promisify(execFile);
const readText = promisify(readFile);

/**
 * Bad input on the router's clients port (issue 15, point 6), against a real node process: a
 * flood of 10,000 idle connections from 80 addresses, garbage, wrong secrets. The router's
 * memory is measured; a tunnel already up keeps serving visitors, and a new honest client
 * still gets its session during the flood.
 */

const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await killAllNodes();
});

function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) / 1024;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('10,000 idle connections and garbage on the clients port: memory bounded, the tunnel keeps serving, a new client still gets in', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-tunnel-attack-'));
  t.after(() => removeDir(dir));
  const ports = { p2p: await freePort(), redis: await freePort(), http: await freePort(), tls: await freePort(), clients: await freePort() };
  const configFile = join(dir, 'router.yaml');
  await import('node:fs/promises').then((fs) =>
    fs.writeFile(
      configFile,
      `node:
  name: router
  dataDir: ${join(dir, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${ports.p2p}]
  log: { level: info }
plugins:
  store: { port: ${ports.redis} }
  tcprouter:
    listen: { http: '127.0.0.1:${ports.http}', tls: '127.0.0.1:${ports.tls}', clients: '127.0.0.1:${ports.clients}' }
`,
    ),
  );
  const router = await NodeProcess.start(configFile);
  const status = async (): Promise<any> => JSON.parse((await runCli(['status', '--json', '--config', configFile])).stdout).plugins.tcprouter.tunnel;
  const password = (await readText(join(dir, 'data', 'store', 'redis.password'), 'utf8')).trim();
  const fqdn = 'www.alice.gateway.tf';
  await exec('redis-cli', ['-p', String(ports.redis), 'SET', tcprouterKey(fqdn), encodeService(fqdn, { addr: '', httpport: 80, tlsport: 443, clientsecret: 'alice-secret' })], { env: { ...process.env, REDISCLI_AUTH: password } });

  // The honest side: a local service and `plexus tunnel` holding the secret.
  const service = createHttpServer((_req, res) => res.end('alice'));
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  t.after(() => void service.close());
  const tunnel = spawn(process.execPath, [PLEXUS, 'tunnel', '--remote', `127.0.0.1:${ports.clients}`, '--local', `127.0.0.1:${(service.address() as { port: number }).port}`, '--data-dir', join(dir, 'tunnel')], {
    env: { ...process.env, PLEXUS_TUNNEL_SECRET: 'alice-secret' },
    stdio: 'ignore',
  });
  children.push(tunnel);
  await waitFor(async () => (await status()).sessions === 1, 'the honest tunnel session');
  const visit = async (): Promise<string> => (await exec('curl', ['-sS', '--max-time', '10', '-H', `Host: ${fqdn}`, `http://127.0.0.1:${ports.http}/`])).stdout;
  assert.equal(await visit(), 'alice');
  const before = rssMb(router.pid);

  // 10,000 connections from 127.0.0.2 ... 127.0.0.81 (125 each, within maxPerIp 128) that say
  // nothing; one in ten sends garbage, one in ten a handshake with a wrong secret.
  const flood: Socket[] = [];
  t.after(() => flood.forEach((s) => s.destroy()));
  let closedByRouter = 0;
  for (let ip = 2; ip <= 81; ip++) {
    await Promise.all(
      Array.from({ length: 125 }, (_, i) =>
        new Promise<void>((resolve) => {
          const s = connect({ host: '127.0.0.1', port: ports.clients, localAddress: `127.0.0.${ip}` }, () => {
            if (i % 10 === 1) s.write(randomBytes(64));
            if (i % 10 === 2) {
              const y = new YamuxSession(s, { client: true, pingIntervalMs: 0 });
              const st = y.open();
              st.on('error', () => undefined);
              st.end(encodeTunnelHandshake('not-the-secret'));
            }
            resolve();
          });
          s.on('error', () => resolve());
          s.on('close', () => closedByRouter++);
          // Reads what the router sends (a go-away, then EOF), as any client does, so its close is seen.
          if (i % 10 !== 2) s.resume();
          flood.push(s);
        }),
      ),
    );
  }
  // While the flood holds its connections: the tunnel up before it still serves visitors, and a
  // second honest client gets a session (the oldest unfinished connections make room for it).
  for (let i = 0; i < 5; i++) assert.equal(await visit(), 'alice');
  const second = connect({ host: '127.0.0.1', port: ports.clients });
  t.after(() => void second.destroy());
  await new Promise((r) => second.once('connect', r));
  const session = new YamuxSession(second, {
    client: true,
    pingIntervalMs: 0,
    onStream: (st) => relay(st, connect({ host: '127.0.0.1', port: (service.address() as { port: number }).port, allowHalfOpen: true })),
  });
  const hs = session.open();
  hs.on('error', () => undefined);
  hs.end(encodeTunnelHandshake('alice-secret'));
  await waitFor(async () => (await status()).sessions === 2, 'the second honest session, during the flood');
  const during = rssMb(router.pid);
  const s = await status();
  t.diagnostic(
    `router RSS ${before.toFixed(0)} MB before, ${during.toFixed(0)} MB holding the flood (+${(during - before).toFixed(1)} MB); ` +
      `handshaking ${s.handshaking}, closed by the router so far ${closedByRouter}; counters ${JSON.stringify(s.counters.rejected)}`,
  );
  assert.ok(s.handshaking <= 512, `unfinished handshakes are capped (maxHandshaking 512): ${s.handshaking}`);
  assert.ok(s.counters.rejected.evictedHandshakes > 0, 'the oldest idle connections were dropped for newer ones');
  assert.ok(s.counters.rejected.unknownSecret + s.counters.rejected.badHandshake > 0);
  assert.ok(during - before < 100, `the router grew by ${(during - before).toFixed(1)} MB holding 10,000 hostile connections`);
  assert.equal(router.child.exitCode, null, 'the router is still running');
  // The rest are cut by the handshake deadline (10 s) at the latest: nothing is held for ever.
  await waitFor(() => closedByRouter === flood.length, 'every flood connection closed by the router', 60_000);
  assert.equal((await status()).handshaking, 0);
  assert.equal(await visit(), 'alice');
  session.destroy();
});
