import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, removeDir, runCli, tempDir } from './lib/harness.js';
import { requireWireguardTools } from './lib/wg.js';

/**
 * The README's "whole network on one machine" walkthrough, run verbatim: the block is read from
 * README.md at test time and run by bash with `set -euo pipefail` in a directory that looks like
 * the checkout (bin, configs, scripts linked), so `.plexus-net/seed` is the test's own. It brings
 * the seed up, reaches two names of the threebot from the visitor, leases an instance, and ends
 * with `net down`, which must leave nothing.
 */
const HEADING = '### The whole network on one machine, from one plan file';

async function readmeBlock(): Promise<string> {
  const text = await readFile(join(ROOT, 'README.md'), 'utf8');
  const at = text.indexOf(`\n${HEADING}\n`);
  assert.ok(at >= 0, `README.md has no heading '${HEADING}'`);
  const m = /```sh\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(m !== null, `no sh block under '${HEADING}'`);
  return m[1]!;
}

test('README walkthrough: net up, both names reached from the visitor with dig and curl, a lease, net down', { timeout: 600_000 }, async () => {
  await requireWireguardTools();
  const block = await readmeBlock();
  const dir = await tempDir('plexus-walkthrough-');
  for (const entry of ['bin', 'configs', 'scripts']) await symlink(join(ROOT, entry), join(dir, entry));
  const home = join(dir, 'home');
  await mkdir(home);
  try {
    const child = spawn('bash', ['-c', `set -euo pipefail\n${block}`], { cwd: dir, env: { ...process.env, HOME: home, PLEXUS_KEY: '', PLEXUS_EXPLORER: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 480_000);
    const code = await new Promise<number | null>((res) => child.on('close', res));
    clearTimeout(timer);
    const logs = await readFile(join(dir, '.plexus-net/seed/logs/bot.log'), 'utf8').catch(() => '');
    assert.equal(code, 0, `a README line failed:\n${stderr}\n--- stdout:\n${stdout}\n--- bot log:\n${logs.split('\n').slice(-20).join('\n')}`);
    const lines = stdout.split('\n');
    assert.match(stdout, /^seed is up in [\d.]+ s/m);
    // dig: webbot is a CNAME of the zone apex (the routers), mybot points at the routers.
    assert.ok(lines.includes('gateway.tf.') && lines.filter((l) => l === '10.70.0.11').length >= 2, stdout);
    assert.equal(lines.filter((l) => l === 'hello from the threebot').length, 2, `both names fetched:\n${stdout}`);
    assert.match(stdout, /^instance sashi-[0-9a-f]+ on host1\.gateway\.tf$/m);
    assert.match(stdout, /^seed: removed processes \d+, containers 1, namespaces 8, interfaces \d+, nftTables 1, wireguardSockets \d+, mounts \d+/m);
    assert.match(stdout, /^left behind: nothing$/m);
  } finally {
    // The block ends with `net down`; if a line failed before it, this removes what it made.
    await runCli(['net', 'down', '--plan', join(dir, 'configs/plans/seed.yaml'), '--run-dir', join(dir, '.plexus-net/seed')], {}, 180_000).catch(() => undefined);
    await removeDir(dir);
  }
});
