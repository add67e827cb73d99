import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { freePort, removeDir, runCli, tempDir, writeConfig } from '../lib/harness.js';

/** A config with everything but `node.listen` and `node.dataDir` fixed. */
function config(dir: string, opts: { port: number; dataDir?: string }): string {
  return `node:
  dataDir: ${opts.dataDir ?? join(dir, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${opts.port}]
plugins:
  store: { port: 1 }
`;
}

/** No stack trace, no "report a bug": a start-up failure is explained by its one coded line. */
function assertNoStack(stderr: string): void {
  assert.doesNotMatch(stderr, /^\s+at /m, 'no stack frames');
  assert.doesNotMatch(stderr, /"stack"/, 'no stack in the JSON log');
  assert.doesNotMatch(stderr, /A bug: report it/);
}

/** Issue point 10: hostile or broken start-up input gets a coded error and the right exit code, fast. */
describe('attack: start-up and config input', { timeout: 90_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await tempDir('plexus-attack-startup-');
  });
  after(async () => {
    await removeDir(dir);
  });

  test('a YAML alias bomb is ERR_CONFIG_INVALID, exit 2, for check-config and start alike', async () => {
    const levels = 'abcdefghi'.split('');
    const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...levels.slice(1).map((k, i) => `${k}: &${k} [${Array(10).fill(`*${levels[i]}`).join(', ')}]`), 'plugins:', '  store: {}', ''].join('\n');
    const file = await writeConfig(dir, 'bomb', bomb);
    const check = await runCli(['check-config', '--config', file, '--json'], {}, 20_000);
    assert.equal(check.code, 2, check.stdout + check.stderr);
    assert.equal(check.json.error.code, 'ERR_CONFIG_INVALID');
    assert.match(check.json.error.message, /alias/);
    const start = await runCli(['start', '--config', file], {}, 20_000);
    assert.equal(start.code, 2);
    assert.match(start.stderr, /ERR_CONFIG_INVALID: .*bomb\.yaml.*alias/);
  });

  test('bytes that are not UTF-8 are refused, naming the byte offset', async () => {
    const file = join(dir, 'latin1.yaml');
    const text = Buffer.concat([Buffer.from('node:\n  name: caf'), Buffer.from([0xe9]), Buffer.from('\nplugins:\n  store: {}\n')]);
    await writeFile(file, text);
    const r = await runCli(['check-config', '--config', file, '--json']);
    assert.equal(r.code, 2);
    assert.equal(r.json.error.code, 'ERR_CONFIG_INVALID');
    assert.match(r.json.error.message, new RegExp(`byte offset ${text.indexOf(0xe9)}`));
  });

  test('a libp2p port in use: ERR_LISTEN naming the address, exit 1, no stack', async () => {
    const port = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(port, '127.0.0.1', r));
    try {
      const file = await writeConfig(dir, 'busy', config(dir, { port }));
      const r = await runCli(['start', '--config', file], {}, 20_000);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`plexus: ERR_LISTEN: cannot listen on /ip4/127\\.0\\.0\\.1/tcp/${port}: the address is in use`));
      assertNoStack(r.stderr);
      // The JSON fatal line says what failed, by code.
      assert.match(r.stderr, /"level":60.*"code":"ERR_LISTEN"/);
    } finally {
      holder.close();
    }
  });

  test('dataDir under /proc fails within seconds with ERR_DATA_DIR, exit 1, no stack', async () => {
    const file = await writeConfig(dir, 'proc', config(dir, { port: await freePort(), dataDir: '/proc/plexus-data' }));
    const started = Date.now();
    // Before the fix this spun at full CPU, deaf to SIGTERM: runCli's deadline kills it and fails the test.
    const r = await runCli(['start', '--config', file], {}, 10_000);
    assert.equal(r.code, 1, r.stderr);
    assert.ok(Date.now() - started < 5000);
    assert.match(r.stderr, /plexus: ERR_DATA_DIR: data dir \/proc\/plexus-data: cannot create \/proc\/plexus-data/);
    assertNoStack(r.stderr);
  });
});
