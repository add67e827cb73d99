import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeProcess, PLEXUS, ROOT, explorerConfig, killAllNodes, removeDir, tempDir } from './lib/harness.js';

/**
 * The one-shot client commands run from the CLI bundle (core/dist/bundle/cli, built by
 * `npm run build` / scripts/setup.sh): these tests check that they really do, that they answer
 * byte for byte as the compiled modules do (PLEXUS_NO_BUNDLE=1), and that every other command
 * keeps running from the compiled modules.
 */
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** file: URLs the process loaded, relative to the repository. */
  loaded: string[];
}

describe('CLI bundle for one-shot client commands', () => {
  let dir: string;
  let explorer: NodeProcess;
  let hook: string;
  let runs = 0;

  /** `plexus ARGS` with a module hook that records every file the process loads. */
  async function plexus(args: string[], env: Record<string, string> = {}): Promise<Run> {
    const log = join(dir, `loaded-${runs++}.txt`);
    const child = spawn(process.execPath, ['--import', hook, PLEXUS, ...args], {
      env: { ...process.env, PLEXUS_DEBUG: '', ...env, LOADED_LOG: log },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((res, rej) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        rej(new Error(`plexus ${args.join(' ')} did not finish in 60 s\n${stderr}`));
      }, 60_000);
      child.on('error', rej);
      child.on('close', (c) => {
        clearTimeout(timer);
        res(c);
      });
    });
    const loaded = (await readFile(log, 'utf8').catch(() => ''))
      .split('\n')
      .filter((u) => u.startsWith('file://'))
      .map((u) => u.replace(`file://${ROOT}/`, ''));
    return { code, stdout, stderr, loaded };
  }

  before(async () => {
    dir = await tempDir('plexus-bundle-');
    hook = join(dir, 'record-loads.mjs');
    await writeFile(
      hook,
      [
        "import { registerHooks } from 'node:module';",
        "import { appendFileSync } from 'node:fs';",
        'registerHooks({ load(url, context, next) { appendFileSync(process.env.LOADED_LOG, `${url}\\n`); return next(url, context); } });',
      ].join('\n'),
    );
    const { file } = await explorerConfig(dir);
    explorer = await NodeProcess.start(file);
  });
  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('phonebook get runs from the bundle: no module of node_modules or of the plugin package is loaded', async () => {
    const r = await plexus(['phonebook', 'get', 'nobody', '--explorer', explorer.multiaddr, '--json'], { PLEXUS_DEBUG: '1' });
    assert.doesNotMatch(r.stderr, /CLI bundle is older/, `the bundle is stale: run \`npm run build\` (scripts/setup.sh does)\n${r.stderr}`);
    assert.ok(r.loaded.includes('core/dist/bundle/cli/main.js'), `the bundle was not used (missing? run \`npm run build\`); loaded:\n${r.loaded.join('\n')}`);
    const outside = r.loaded.filter((f) => !f.startsWith('core/dist/bundle/cli/') && !/^core\/dist\/src\/cli\/(main|bundle-route|bundled-clis)\.js$/.test(f));
    assert.deepEqual(outside, [], 'only the launcher and the bundle load');
    assert.equal(r.code, 1);
    assert.equal(JSON.parse(r.stdout).error.code, 'ERR_NOT_FOUND');
  });

  test('each bundled command answers exactly as the compiled modules do', async () => {
    const key = join(dir, 'alice.key');
    const reg = await plexus(['phonebook', 'register', '--name', 'alice', '--email', 'a@example.org', '--key', key, '--explorer', explorer.multiaddr, '--json']);
    assert.equal(reg.code, 0, reg.stderr);
    const cases: string[][] = [
      ['phonebook', 'get', 'alice', '--explorer', explorer.multiaddr],
      ['phonebook', 'get', 'alice', '--explorer', explorer.multiaddr, '--json'],
      ['phonebook', 'get', 'nobody', '--explorer', explorer.multiaddr],
      ['phonebook', 'get', 'nobody', '--explorer', explorer.multiaddr, '--json'],
      ['phonebook', 'get'], // usage error, exit 2
      ['phonebook', 'get', 'alice'], // no explorer: ERR_USAGE
      ['phonebook', 'get', 'alice', '--explorer', 'not-a-multiaddr'],
      ['phonebook', '--help'],
      ['gateway', '--help'],
      ['gateway', 'list', '--explorer', explorer.multiaddr, '--json'], // no gateway on this explorer
      ['hosts', 'list', '--explorer', explorer.multiaddr, '--json'],
      ['hello', 'greet', '--name', 'bob', '--explorer', explorer.multiaddr, '--key', key], // no hello plugin on this explorer
      ['lease', '--help'],
    ];
    for (const args of cases) {
      const bundled = await plexus(args);
      const compiled = await plexus(args, { PLEXUS_NO_BUNDLE: '1' });
      // A build during the run (tsc -b rewrites inputs of the bundle) makes the bundle stale.
      assert.ok(bundled.loaded.includes('core/dist/bundle/cli/main.js'), `plexus ${args.join(' ')} did not run from the bundle (stale? run \`npm run build\` and no build during the test)`);
      assert.ok(!compiled.loaded.some((f) => f.startsWith('core/dist/bundle/')), 'PLEXUS_NO_BUNDLE=1 runs the compiled modules');
      assert.deepEqual(
        { code: bundled.code, stdout: bundled.stdout, stderr: bundled.stderr },
        { code: compiled.code, stdout: compiled.stdout, stderr: compiled.stderr },
        `plexus ${args.join(' ')}`,
      );
    }
  });

  test('node commands and plugins outside the bundle run from the compiled modules', async () => {
    for (const args of [['plugins', '--json'], ['--help'], ['wg', '--help'], ['check-config', '--config', explorer.configFile, '--json']]) {
      const r = await plexus(args);
      assert.equal(r.code, 0, `plexus ${args.join(' ')}: ${r.stderr}`);
      assert.ok(!r.loaded.some((f) => f.startsWith('core/dist/bundle/')), `plexus ${args.join(' ')} loaded the bundle`);
    }
  });
});
