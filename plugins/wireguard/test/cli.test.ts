import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real `plexus` binary: config errors in the wireguard block, and `plexus wg` without a node. */
const PLEXUS = fileURLToPath(new URL('./cli/main.js', import.meta.resolve('@plexus/core')));

function plexus(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [PLEXUS, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

test('check-config exits 2 naming each bad key of the wireguard block', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-wg-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'bad.yaml');
  await writeFile(
    file,
    `node:
  name: dns1
  dataDir: ${join(dir, 'data')}
plugins:
  wireguard:
    networks:
      redis: { listenPort: 51820, endpoint: 'not an endpoint' }
      main: { listenPort: 51820, lisenPort: 1 }
    registry:
      redis: { cidr: 10.1.0.1/24 }
`,
  );
  const r = await plexus(['check-config', '--config', file]);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  for (const key of ['plugins.wireguard.networks.redis.endpoint', 'plugins.wireguard.networks.main', 'plugins.wireguard.registry.redis.cidr']) {
    assert.ok(r.stderr.includes(key), `${key} not named in:\n${r.stderr}`);
  }
  assert.match(r.stderr, /lisenPort/);

  const good = join(dir, 'good.yaml');
  await writeFile(good, `node:\n  name: dns1\n  dataDir: ${join(dir, 'data')}\nplugins:\n  wireguard:\n    networks:\n      main: { listenPort: 51821 }\n`);
  const ok = await plexus(['check-config', '--config', good]);
  assert.equal(ok.code, 0, ok.stderr);
  // No node runs with that config: `plexus wg status` says so and fails (exit 1), it does not hang.
  const st = await plexus(['wg', 'status', '--config', good]);
  assert.equal(st.code, 1, st.stdout + st.stderr);
  assert.match(st.stderr, /^plexus: ERR_/m);
  const usage = await plexus(['wg', 'rotate-key', '--config', good]);
  assert.equal(usage.code, 2, 'a missing required option is a usage error');
  assert.match(usage.stderr, /--network/);
});
