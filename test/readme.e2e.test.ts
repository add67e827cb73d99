import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ROOT, tempDir } from './lib/harness.js';
import { Lan } from './lib/netns.js';

/**
 * The README's walkthroughs, run verbatim: the shell blocks are read from README.md at test time
 * (not copied), and run in a network namespace of their own, so their fixed loopback ports do not
 * meet anything else on the machine. HOME and the data dirs are temporary.
 */

/** The first ```sh block after `heading` in README.md, as lines. */
async function readmeBlock(heading: string): Promise<string[]> {
  const text = await readFile(join(ROOT, 'README.md'), 'utf8');
  const at = text.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README.md has no heading '${heading}'`);
  const m = /```sh\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(m !== null, `no sh block under '${heading}'`);
  return m[1]!.trimEnd().split('\n');
}

/** A directory that looks like the checkout to relative paths in the README, with data of its own. */
async function workDir(): Promise<{ dir: string; home: string }> {
  const dir = await tempDir('plexus-readme-');
  for (const entry of ['bin', 'configs', 'scripts']) await symlink(join(ROOT, entry), join(dir, entry));
  const home = join(dir, 'home');
  await mkdir(home);
  return { dir, home };
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function bash(lan: Lan, script: string, cwd: string, env: Record<string, string>, timeoutMs: number): { child: ChildProcess; done: Promise<Ran> } {
  const [cmd, ...args] = lan.wrap('box', ['bash', '-c', script]);
  const child = spawn(cmd!, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<Ran>((resolve) => {
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

let lan: Lan;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  lan = new Lan('10.78.0');
  await lan.create(['box']);
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await lan.destroy();
});

test('README "Trying it", line by line: the dev node answers the registered address', { timeout: 240_000 }, async (t) => {
  const lines = await readmeBlock('## Trying it');
  assert.match(lines[0]!, /^bash scripts\/dev\.sh\b/, 'the walkthrough starts the dev node first');
  const { dir, home } = await workDir();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const env = { HOME: home, PLEXUS_DATA_DIR: join(dir, 'dev-data'), PLEXUS_KEY: '', PLEXUS_EXPLORER: '' };
  // Terminal 1: the node, in the background until the end of the test.
  const node = bash(lan, lines[0]!, dir, env, 230_000);
  // Stopped when this test ends, not with the file: the next walkthrough starts a dev node on the
  // same fixed ports in the same namespace.
  t.after(async () => {
    killGroup(node.child, 'SIGINT');
    const exited = await Promise.race([node.done, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
    if (exited === undefined) killGroup(node.child, 'SIGKILL');
  });
  // Terminal 2: everything else, verbatim, stopping at the first failing line.
  const rest = bash(lan, ['set -euo pipefail', ...lines.slice(1)].join('\n'), dir, env, 180_000);
  const r = await rest.done;
  assert.equal(r.code, 0, `a README line failed:\n${r.stderr}\n--- stdout:\n${r.stdout}\n--- node:\n${(await Promise.race([node.done, Promise.resolve(undefined)]))?.stderr ?? ''}`);
  const out = r.stdout.split('\n');
  assert.equal(out.filter((l) => l === '10.2.0.5').length, 2, `plexus dns query and dig both print the address:\n${r.stdout}`);
  assert.ok(out.includes('"hello"'), `the TXT record registered with the new key resolves:\n${r.stdout}`);
  assert.match(r.stdout, /^store:$/m, 'plexus status printed the store block');
});

test('README "An explorer and two DNS nodes on one machine": both DNS nodes answer the registered name', { timeout: 240_000 }, async () => {
  const lines = await readmeBlock('### An explorer and two DNS nodes on one machine');
  const { dir, home } = await workDir();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  // The recipe ends with `kill %1 %2 %3`; if a line fails first, the group kill below stops the nodes.
  const run = bash(lan, ['set -euo pipefail', ...lines].join('\n'), dir, { HOME: home, PLEXUS_KEY: '', PLEXUS_EXPLORER: '', PLEXUS_DATA_DIR: '' }, 200_000);
  cleanups.push(async () => killGroup(run.child, 'SIGKILL'));
  const r = await run.done;
  const logs = await Promise.all(['explorer', 'dns-1', 'dns-2'].map((n) => readFile(`/tmp/plexus-${n}.log`, 'utf8').catch(() => '')));
  assert.equal(r.code, 0, `a README line failed:\n${r.stderr}\n--- stdout:\n${r.stdout}\n--- logs:\n${logs.join('\n')}`);
  assert.equal(r.stdout.split('\n').filter((l) => l === '10.2.0.9').length, 2, `both DNS nodes answer:\n${r.stdout}`);
  await writeFile(join(dir, 'done'), '');
});

test('README "A service behind NAT, through the tunnel": the local service answers through the router', { timeout: 240_000 }, async () => {
  const lines = await readmeBlock('### A service behind NAT, through the tunnel');
  const { dir, home } = await workDir();
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  // The recipe ends with `kill %1 %2 %3`; if a line fails first, the group kill below stops what it started.
  const run = bash(lan, ['set -euo pipefail', ...lines].join('\n'), dir, { HOME: home, PLEXUS_KEY: '', PLEXUS_EXPLORER: '', PLEXUS_DATA_DIR: join(dir, 'dev-data') }, 200_000);
  cleanups.push(async () => killGroup(run.child, 'SIGKILL'));
  const r = await run.done;
  const logs = await Promise.all(['dev', 'tunnel'].map((n) => readFile(`/tmp/plexus-${n}.log`, 'utf8').catch(() => '')));
  assert.equal(r.code, 0, `a README line failed:\n${r.stderr}\n--- stdout:\n${r.stdout}\n--- logs:\n${logs.join('\n')}`);
  assert.ok(r.stdout.split('\n').includes('hello from behind the NAT'), `curl through the router got the local service:\n${r.stdout}`);
  assert.match(r.stdout, /1 of 1 routers up/, 'plexus tunnel status printed the router up');
});
