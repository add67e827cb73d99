import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** `plexus dns corefile` through the real CLI entry point. */

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../core/dist/src/cli/main.js');

async function plexus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [MAIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('plexus dns corefile --config prints the Corefile; a bad config exits 2', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-dns-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const file = join(dir, 'dns.yaml');
  await writeFile(file, 'node: { name: dns1 }\nplugins:\n  store: { bind: 10.1.0.1, port: 6378, password: SECRET }\n  dns: { zones: [gateway.tf], forwarders: [9.9.9.9] }\n');
  const ok = await plexus(['dns', 'corefile', '--config', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'gateway.tf {\n    redis {\n        address 10.1.0.1:6378\n        password SECRET\n        connect_timeout 100\n        read_timeout 100\n        ttl 300\n    }\n}\n. {\n    forward . 9.9.9.9\n}\n');
  const json = await plexus(['dns', 'corefile', '--config', file, '--json']);
  assert.equal((JSON.parse(json.stdout) as { corefile: string }).corefile, ok.stdout);

  await writeFile(file, 'node: { name: dns1 }\nplugins:\n  store: {}\n  dns: { zones: [gateway.tf], lisen: [] }\n');
  const bad = await plexus(['dns', 'corefile', '--config', file]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /plugins\.dns/);
});

test("plexus dns corefile --address: the master's password from replicaOf, --password-file or $PLEXUS_STORE_PASSWORD", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-dns-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const file = join(dir, 'dns.yaml');
  await writeFile(join(dir, 'master.pw'), 'master-secret\n');
  await writeFile(join(dir, 'flag.pw'), 'flag-secret\n');
  await writeFile(file, 'node: { name: dns1 }\nplugins:\n  store: { mode: replica, port: 6379, replicaOf: { host: 10.1.0.1, port: 6378, passwordFile: master.pw } }\n  dns: { zones: [gateway.tf], listen: ["0.0.0.0:53", "127.0.0.1:5353"] }\n');
  const run = async (args: string[], env: Record<string, string> = {}): Promise<string> =>
    (await promisify(execFile)(process.execPath, [MAIN, 'dns', 'corefile', '--config', file, '--address', '10.1.0.1:6378', ...args], { env: { ...process.env, ...env } })).stdout;
  const fromReplica = await run([]);
  assert.equal((fromReplica.match(/password master-secret\n/g) ?? []).length, 2, 'one server block per port, each with the password');
  assert.match(fromReplica, /^gateway\.tf:5353 \{\n {4}bind 127\.0\.0\.1\n/m);
  assert.match(await run([], { PLEXUS_STORE_PASSWORD: 'env-secret' }), /password env-secret\n/);
  assert.match(await run(['--password-file', join(dir, 'flag.pw')], { PLEXUS_STORE_PASSWORD: 'env-secret' }), /password flag-secret\n/);
});
