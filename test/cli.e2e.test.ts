import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeProcess, PLEXUS_BIN, ROOT, explorerConfig, freePort, isListening, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';

describe('plexus CLI and node lifecycle', () => {
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });
  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('check-config accepts every shipped role config', async () => {
    for (const name of ['dev', 'explorer']) {
      const r = await runCli(['check-config', '--config', join(ROOT, 'configs', `${name}.yaml`), '--json']);
      assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
      assert.equal(r.json.ok, true);
    }
  });

  test('check-config exits 2 and names the file, key path and expectation of every error', async () => {
    const file = await writeConfig(
      dir,
      'broken',
      `node:
  lisen: [/ip4/127.0.0.1/tcp/1]
  rpc: { maxFrameBytes: big }
plugins:
  phonebook: { pagesize: 3 }
`,
    );
    const r = await runCli(['check-config', '--config', file, '--json']);
    assert.equal(r.code, 2);
    assert.equal(r.json.error.code, 'ERR_CONFIG_INVALID');
    const paths = r.json.error.data.issues.map((i: { path: string }) => i.path).sort();
    // Four errors at once: two under node, the phonebook's unknown key, and its missing store.
    assert.deepEqual(paths, ['node.lisen', 'node.rpc.maxFrameBytes', 'plugins.phonebook', 'plugins.phonebook.pagesize']);
    // The capability error names the plugin that would provide it.
    const file2 = await writeConfig(dir, 'nostore', 'plugins:\n  phonebook: {}\n');
    const r2 = await runCli(['check-config', '--config', file2]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /nostore\.yaml: plugins\.phonebook: requires capability 'store'.*plugin 'store'/);
    const human = await runCli(['check-config', '--config', file]);
    assert.equal(human.code, 2);
    assert.match(human.stderr, /broken\.yaml: node\.lisen: unknown key 'lisen'/);
  });

  test('a missing config file and bad flags exit 2', async () => {
    const r = await runCli(['check-config', '--config', join(dir, 'nope.yaml')]);
    assert.equal(r.code, 2);
    const bad = await runCli(['start', '--no-such-flag']);
    assert.equal(bad.code, 2);
    const semi = await new Promise<{ code: number | null; stderr: string }>((res) =>
      execFile(PLEXUS_BIN, ['start'], { env: { ...process.env, PLEXUS_SEMI_SPACE_MB: '4M' } }, (err, _out, stderr) => res({ code: err === null ? 0 : (err.code as number), stderr })),
    );
    assert.equal(semi.code, 2);
    assert.match(semi.stderr, /PLEXUS_SEMI_SPACE_MB must be a whole number of MiB .*not '4M'/);
    const growth = await new Promise<{ code: number | null; stderr: string }>((res) =>
      execFile(PLEXUS_BIN, ['start'], { env: { ...process.env, PLEXUS_HEAP_GROWTH_PERCENT: '20%' } }, (err, _out, stderr) => res({ code: err === null ? 0 : (err.code as number), stderr })),
    );
    assert.equal(growth.code, 2);
    assert.match(growth.stderr, /PLEXUS_HEAP_GROWTH_PERCENT must be a whole number of percent .*not '20%'/);
  });

  test('id never invents a node: without a key it says so; --create makes the key 0600; the peer id is stable', async () => {
    const { file, ports } = await explorerConfig(dir);
    const none = await runCli(['id', '--config', file]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /ERR_NOT_FOUND: no node identity at .*identity\.key/);
    assert.match(none.stderr, /hint: .*--create/);
    const a = await runCli(['id', '--config', file, '--json', '--create']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.json.peerId, /^12D3KooW/);
    assert.deepEqual(a.json.multiaddrs, [`/ip4/127.0.0.1/tcp/${ports.p2p}/p2p/${a.json.peerId}`]);
    const mode = (await stat(a.json.keyFile)).mode & 0o777;
    assert.equal(mode, 0o600);
    const b = await runCli(['id', '--config', file, '--json']);
    assert.equal(b.json.peerId, a.json.peerId);
    const human = await runCli(['id', '--config', file]);
    assert.match(human.stdout, new RegExp(`peer id: +${a.json.peerId}`));
    const only = await runCli(['id', '--config', file, '--multiaddr']);
    assert.equal(only.stdout, `${a.json.multiaddrs[0]}\n`);
  });

  test('the node started with a config has the peer id `id` printed, and SIGINT stops it and its redis cleanly', async () => {
    const sub = await tempDir();
    try {
      const { file, ports } = await explorerConfig(sub);
      const id = await runCli(['id', '--config', file, '--json', '--create']);
      const node = await NodeProcess.start(file);
      assert.equal(node.multiaddr, id.json.multiaddrs[0]);
      // Started through bin/plexus, as users do: the launcher caps V8's young generation and the
      // old generation's growth between full collections.
      const cmdline = (await readFile(`/proc/${node.pid}/cmdline`, 'utf8')).split('\0');
      assert.ok(cmdline.includes('--max-semi-space-size=4'), cmdline.join(' '));
      assert.ok(cmdline.includes('--heap-growing-percent=20'), cmdline.join(' '));
      assert.equal(await isListening(ports.redis), true);
      const status = await runCli(['status', '--config', file, '--json']);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(status.json.node.peerId, id.json.peerId);
      // Where the RSS goes, for an operator asking why a node is big: the JS heap in use is part of
      // what V8 reserved, which is part of the RSS.
      const n = status.json.node;
      assert.ok(n.heapUsedBytes > 0 && n.heapUsedBytes <= n.heapTotalBytes && n.heapTotalBytes < n.rssBytes && n.externalBytes > 0, JSON.stringify(n));
      const human = await runCli(['status', '--config', file]);
      assert.match(human.stdout, /rss \d+ MB \(JS heap \d+ of \d+ MB\)/);
      assert.equal(status.json.plugins.store.role, 'master');
      assert.equal(status.json.plugins.store.managed, true);
      assert.ok('phonebook' in status.json.plugins);
      const exit = await node.stop('SIGINT');
      assert.equal(exit.code, 0, node.stderr);
      assert.equal(await isListening(ports.redis), false, 'redis-server stopped with the node');
      assert.match(node.stderr, /"plugin":"phonebook","msg":"plugin stopped"[\s\S]*"plugin":"store","msg":"plugin stopped"/);
      const down = await runCli(['status', '--config', file, '--json']);
      assert.equal(down.code, 1);
      assert.equal(down.json.error.code, 'ERR_CONNECT');
      const humanDown = await runCli(['status', '--config', file]);
      assert.match(humanDown.stderr, /the node is not running .*data dir/);
      assert.match(humanDown.stderr, /hint: Is the node running with this config\?/);
      assert.doesNotMatch(humanDown.stderr, /multiaddr/, 'not the hint for a remote node');
    } finally {
      await removeDir(sub);
    }
  });

  test('when a plugin fails to start, the started ones are stopped in reverse order and the process exits 1 with the cause', async () => {
    const sub = await tempDir();
    try {
      const redis = await freePort();
      const file = await writeConfig(
        sub,
        'failing',
        `node:
  dataDir: ${join(sub, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]
plugins:
  store: { port: ${redis} }
  ${join(ROOT, 'test/fixtures/failing-plugin.js')}: { reason: disk on fire }
`,
      );
      const r = await NodeProcess.startExpectingFailure(file);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /ERR_PLUGIN_START: plugin 'failer' failed to start: disk on fire/);
      assert.match(r.stderr, /"plugin":"store","msg":"plugin stopped"/);
      assert.equal(await isListening(redis), false, 'the store started before the failure was stopped');
    } finally {
      await removeDir(sub);
    }
  });

  test('a store port already in use fails the start with exit 1 naming the store plugin', async () => {
    const sub = await tempDir();
    const { createServer } = await import('node:net');
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((res) => blocker.listen(port, '127.0.0.1', () => res()));
    try {
      const file = await writeConfig(
        sub,
        'busy',
        `node:
  dataDir: ${join(sub, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]
plugins:
  store: { port: ${port} }
  phonebook: {}
`,
      );
      const r = await NodeProcess.startExpectingFailure(file);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /ERR_PLUGIN_START: plugin 'store' failed to start/);
    } finally {
      blocker.close();
      await removeDir(sub);
    }
  });

  test('--help lists the node commands and installed plugins', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const word of ['start', 'check-config', 'id', 'phonebook']) assert.match(r.stdout, new RegExp(`\\b${word}\\b`));
    const pb = await runCli(['phonebook', '--help']);
    assert.equal(pb.code, 0);
    for (const word of ['register', 'get', 'update-key', 'list']) assert.match(pb.stdout, new RegExp(`\\b${word}\\b`));
  });
});
