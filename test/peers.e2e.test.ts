import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { NodeProcess, ROOT, explorerConfig, freePort, killAllNodes, removeDir, runCli, tempDir, writeConfig } from './lib/harness.js';

/**
 * What client-side plugins rely on: `node.explorer` (several, tried in order) and `ctx.peers`,
 * an RPC client over the node's own libp2p host that signs with the node's key. A plugin loaded by
 * path, as a third party's would be, registers its node on a real explorer at start.
 */

after(() => killAllNodes());

test('a plugin calls the explorer through ctx.peers, signed with the node key; an unreachable first explorer is skipped', { timeout: 90_000 }, async () => {
  const dir = await tempDir();
  try {
    const { file: explorerFile } = await explorerConfig(dir);
    const explorer = await NodeProcess.start(explorerFile);
    // Nothing listens there: peers.explorer() must move on to the next configured address.
    const dead = `/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${explorer.multiaddr.split('/p2p/')[1]}`;
    const clientFile = await writeConfig(
      dir,
      'client',
      `node:
  name: client
  dataDir: ${join(dir, 'client-data')}
  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]
  explorer: [${dead}, ${explorer.multiaddr}]
plugins:
  ${join(ROOT, 'test/fixtures/explorer-caller.js')}: { name: client-node }
`,
    );
    const client = await NodeProcess.start(clientFile);
    const id = await runCli(['id', '--config', clientFile, '--json']);
    assert.equal(id.code, 0, id.stderr);
    const status = await runCli(['status', '--config', clientFile, '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(
      { name: status.json.plugins.caller.registered, pubkey: status.json.plugins.caller.pubkey },
      { name: 'client-node', pubkey: id.json.publicKey },
      'the explorer accepted name_register signed by the node key it names',
    );
    const got = await runCli(['phonebook', 'get', 'client-node', '--explorer', explorer.multiaddr, '--json']);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.json.pubkey, id.json.publicKey);
    await client.stop('SIGTERM');
    await explorer.stop('SIGTERM');
  } finally {
    await removeDir(dir);
  }
});

test('a plugin asking for the explorer without node.explorer gets ERR_CONFIG_INVALID naming the key, and the node does not start', { timeout: 60_000 }, async () => {
  const dir = await tempDir();
  try {
    const file = await writeConfig(
      dir,
      'lonely',
      `node:
  name: lonely
  dataDir: ${join(dir, 'data')}
  listen: [/ip4/127.0.0.1/tcp/${await freePort()}]
plugins:
  ${join(ROOT, 'test/fixtures/explorer-caller.js')}: { name: lonely }
`,
    );
    const r = await NodeProcess.startExpectingFailure(file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /node\.explorer: no explorer is configured/);
  } finally {
    await removeDir(dir);
  }
});
