import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import {
  RpcClient,
  encodeFrame,
  generateKeyPair,
  rpcSigningBytes,
  signDetached,
  signRequest,
  toHex,
  type RpcResponseFrame,
} from '@plexus/core';
import { NodeProcess, explorerConfig, killAllNodes, removeDir, runCli, tempDir } from './lib/harness.js';

const PB = '/plexus/phonebook/1';

/** payload_build as an outside client computes it (COMPAT §4): fields concatenated, no separator. */
function payload(...fields: (string | number)[]): Uint8Array {
  return new TextEncoder().encode(fields.map(String).join(''));
}

/** Sends raw bytes on a fresh phonebook stream and resolves with the first answer that arrives. */
async function rawExchange(client: RpcClient, bytes: Uint8Array): Promise<RpcResponseFrame> {
  const answer = new Promise<RpcResponseFrame>((res) => (client.onUnmatched = res));
  await client.sendRaw(PB, bytes);
  return answer;
}

describe('explorer with store + phonebook, clients as separate processes', () => {
  let dir: string;
  let explorer: NodeProcess;
  let configFile: string;
  const keyOf = (who: string): string => join(dir, `${who}.key`);
  const cli = (args: string[]) => runCli([...args, '--explorer', explorer.multiaddr, '--json']);

  before(async () => {
    dir = await tempDir();
    ({ file: configFile } = await explorerConfig(dir));
    explorer = await NodeProcess.start(configFile);
  });
  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  test('register, look up by name and tid, update the key', async () => {
    const reg = await cli(['phonebook', 'register', '--name', 'alice', '--email', 'alice@example.org', '--description', 'first', '--ipaddr', '10.2.0.5', '--key', keyOf('alice')]);
    assert.equal(reg.code, 0, reg.stderr + reg.stdout);
    assert.equal(reg.json.name, 'alice');
    assert.equal(reg.json.ipaddr, '10.2.0.5');
    assert.equal(reg.json.description, 'first');
    assert.match(reg.json.pubkey, /^[0-9a-f]{64}$/);

    const byName = await cli(['phonebook', 'get', 'alice']);
    assert.equal(byName.code, 0);
    assert.deepEqual(byName.json, reg.json);
    const byTid = await cli(['phonebook', 'get', String(reg.json.tid)]);
    assert.deepEqual(byTid.json, reg.json);

    // Registering again with the same key is idempotent and keeps the tid.
    const again = await cli(['phonebook', 'register', '--name', 'alice', '--email', 'alice@example.org', '--description', 'second', '--key', keyOf('alice')]);
    assert.equal(again.code, 0);
    assert.equal(again.json.tid, reg.json.tid);
    assert.equal(again.json.description, 'second');

    const upd = await cli(['phonebook', 'update-key', '--name', 'alice', '--key', keyOf('alice'), '--new-key', keyOf('alice2')]);
    assert.equal(upd.code, 0, upd.stdout + upd.stderr);
    assert.notEqual(upd.json.pubkey, reg.json.pubkey);
    assert.equal(upd.json.tid, reg.json.tid);
    const after = await cli(['phonebook', 'get', 'alice']);
    assert.equal(after.json.pubkey, upd.json.pubkey);

    // The old key lost the name: it can no longer move it.
    const stale = await cli(['phonebook', 'update-key', '--name', 'alice', '--key', keyOf('alice'), '--new-key', keyOf('alice3')]);
    assert.equal(stale.code, 1);
    assert.equal(stale.json.error.code, 'ERR_PUBKEY_MISMATCH');
  });

  test('another key cannot take a registered name', async () => {
    const first = await cli(['phonebook', 'register', '--name', 'bob', '--email', 'bob@example.org', '--key', keyOf('bob')]);
    assert.equal(first.code, 0);
    const thief = await cli(['phonebook', 'register', '--name', 'bob', '--email', 'eve@example.org', '--key', keyOf('eve')]);
    assert.equal(thief.code, 1);
    assert.equal(thief.json.error.code, 'ERR_NAME_TAKEN');
    const still = await cli(['phonebook', 'get', 'bob']);
    assert.equal(still.json.pubkey, first.json.pubkey);
  });

  test('bad usage exits 2; unknown name exits 1 with ERR_NOT_FOUND', async () => {
    const missing = await cli(['phonebook', 'get', 'nobody-here']);
    assert.equal(missing.code, 1);
    assert.equal(missing.json.error.code, 'ERR_NOT_FOUND');
    const noFlag = await runCli(['phonebook', 'register', '--email', 'x@y.z'], { PLEXUS_EXPLORER: '' });
    assert.equal(noFlag.code, 2);
    const badAddr = await runCli(['phonebook', 'get', 'x', '--explorer', 'not-a-multiaddr', '--json']);
    assert.equal(badAddr.code, 2);
    assert.equal(badAddr.json.error.code, 'ERR_USAGE');
  });

  describe('refusals, each with its own code', () => {
    const key = generateKeyPair();
    const pubkey = toHex(key.publicKey);
    let client: RpcClient;
    let tid: number;

    before(async () => {
      client = await RpcClient.connect(explorer.multiaddr, { key });
      const rec = await client.call<{ tid: number }>(PB, 'name_register', { name: 'carol', email: 'c@example.org', pubkey, wallet_name: '' }, { signed: true });
      tid = rec.tid;
    });
    after(async () => client.close());

    test('a record_register signature over other fields is ERR_SIGNATURE_INVALID and changes nothing', async () => {
      const fields = { tid, name: 'carol', email: 'c@example.org', ipaddr: '10.0.0.9', description: 'x', pubkey };
      const sig = toHex(signDetached(payload(tid, 'carol', 'c@example.org', '10.0.0.1', 'x', pubkey), key));
      await assert.rejects(client.call(PB, 'record_register', { ...fields, sender_signature_hex: sig }, { signed: true }), { code: 'ERR_SIGNATURE_INVALID' });
      const rec = await client.call<{ ipaddr: string }>(PB, 'get', { tid });
      assert.equal(rec.ipaddr, '');
    });

    test('an RPC envelope with a forged signature is ERR_SIGNATURE_INVALID', async () => {
      const params = { name: 'mallory', email: 'm@example.org', pubkey, wallet_name: '' };
      const auth = signRequest({ protocol: PB, audience: client.remotePeer, method: 'name_register', params }, key);
      const forged = { ...auth, sig: auth.sig.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
      const res = await rawExchange(client, encodeFrame({ id: 9001, method: 'name_register', params, auth: forged }));
      assert.ok('error' in res);
      assert.equal(res.error.code, 'ERR_SIGNATURE_INVALID');
    });

    test('a replayed request is ERR_REPLAY', async () => {
      const params = { name: 'carol', email: 'c@example.org', pubkey, wallet_name: '' };
      const frame = encodeFrame({ id: 9002, method: 'name_register', params, auth: signRequest({ protocol: PB, audience: client.remotePeer, method: 'name_register', params }, key) });
      const first = await rawExchange(client, frame);
      assert.ok('result' in first, JSON.stringify(first));
      const second = await rawExchange(client, frame);
      assert.ok('error' in second);
      assert.equal(second.error.code, 'ERR_REPLAY');
    });

    test('a request signed ten minutes ago is ERR_TIMESTAMP_STALE', async () => {
      const params = { name: 'carol', email: 'c@example.org', pubkey, wallet_name: '' };
      const ts = Date.now() - 10 * 60_000;
      const nonce = 'ab'.repeat(16);
      const sig = toHex(signDetached(rpcSigningBytes({ protocol: PB, audience: client.remotePeer, method: 'name_register', params, ts, nonce }), key));
      const res = await rawExchange(client, encodeFrame({ id: 9003, method: 'name_register', params, auth: { pubkey, ts, nonce, sig } }));
      assert.ok('error' in res);
      assert.equal(res.error.code, 'ERR_TIMESTAMP_STALE');
    });

    test('an unknown method is ERR_METHOD_UNKNOWN; bad params are ERR_PARAMS_INVALID', async () => {
      await assert.rejects(client.call(PB, 'drop_everything', {}), { code: 'ERR_METHOD_UNKNOWN' });
      await assert.rejects(client.call(PB, 'get', { tid: 'one' }), { code: 'ERR_PARAMS_INVALID' });
      await assert.rejects(client.call(PB, 'name_register', { name: 'Bad Name', email: 'x@y.z', pubkey, wallet_name: '' }, { signed: true }), { code: 'ERR_NAME_INVALID' });
    });
  });

  test('garbage, oversize frames and non-libp2p bytes are refused while a well-behaved client keeps being served', async () => {
    const good = await RpcClient.connect(explorer.multiaddr);
    const abuser = await RpcClient.connect(explorer.multiaddr);
    const served: number[] = [];
    let stop = false;
    const loop = (async () => {
      while (!stop) {
        const rec = await good.call<{ name: string }>(PB, 'get', { name: 'bob' });
        assert.equal(rec.name, 'bob');
        served.push(Date.now());
      }
    })();
    try {
      // Valid length prefix, body not JSON.
      const garbage = Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x7b])]);
      const bad = await rawExchange(abuser, garbage);
      assert.ok('error' in bad);
      assert.equal(bad.error.code, 'ERR_FRAME_MALFORMED');
      // A JSON value that is not a request.
      const notReq = await rawExchange(abuser, encodeFrame([1, 2, 3]));
      assert.ok('error' in notReq);
      assert.equal(notReq.error.code, 'ERR_REQUEST_INVALID');
      // A declared length far above the limit: answered, then the stream is closed.
      const oversize = await rawExchange(abuser, Buffer.from([0x7f, 0xff, 0xff, 0xff, 1, 2, 3]));
      assert.ok('error' in oversize);
      assert.equal(oversize.error.code, 'ERR_FRAME_TOO_LARGE');
      // Random bytes straight to the libp2p TCP port (no multistream, no noise): dropped.
      const port = Number(explorer.multiaddr.split('/')[4]);
      await new Promise<void>((res, rej) => {
        const s = connect(port, '127.0.0.1', () => s.write(Buffer.alloc(4096, 0x5a)));
        s.on('close', () => res());
        s.on('error', () => res());
        s.setTimeout(20_000, () => rej(new Error('explorer kept a garbage connection open for 20 s')));
        s.resume();
      });
      const before = served.length;
      await good.call(PB, 'get', { name: 'bob' });
      assert.ok(served.length >= before);
    } finally {
      stop = true;
      await loop;
      await abuser.close();
      await good.close();
    }
    assert.ok(served.length > 0, 'the well-behaved client was served during the abuse');
    assert.ok(explorer.child.exitCode === null, 'explorer still running');
  });
});

describe('durability: acknowledged registrations survive restarts', () => {
  let dir: string;
  let configFile: string;

  before(async () => {
    dir = await tempDir();
    ({ file: configFile } = await explorerConfig(dir));
  });
  after(async () => {
    await killAllNodes();
    await removeDir(dir);
  });

  async function registerMany(node: NodeProcess, prefix: string, n: number): Promise<Map<string, number>> {
    const client = await RpcClient.connect(node.multiaddr);
    const out = new Map<string, number>();
    try {
      await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const key = generateKeyPair();
          const signer = await RpcClient.connect(node.multiaddr, { key });
          try {
            const name = `${prefix}-${i}`;
            const rec = await signer.call<{ tid: number }>(PB, 'name_register', { name, email: `${name}@example.org`, pubkey: toHex(key.publicKey), wallet_name: '' }, { signed: true });
            out.set(name, rec.tid);
          } finally {
            await signer.close();
          }
        }),
      );
    } finally {
      await client.close();
    }
    return out;
  }

  async function assertAllPresent(node: NodeProcess, expected: Map<string, number>): Promise<void> {
    const client = await RpcClient.connect(node.multiaddr);
    try {
      for (const [name, tid] of expected) {
        const rec = await client.call<{ tid: number }>(PB, 'get', { name });
        assert.equal(rec.tid, tid, name);
      }
    } finally {
      await client.close();
    }
  }

  test('graceful stop (SIGTERM) and start again', async () => {
    const node = await NodeProcess.start(configFile);
    try {
      const names = await registerMany(node, 'graceful', 20);
      const exit = await node.stop('SIGTERM');
      assert.equal(exit.code, 0, node.stderr);
      const again = await NodeProcess.start(configFile);
      try {
        await assertAllPresent(again, names);
      } finally {
        await again.stop();
      }
    } finally {
      await killAllNodes();
    }
  });

  test('kill -9 of the whole node (plexus and its redis-server) and start again', async () => {
    const node = await NodeProcess.start(configFile);
    try {
      const names = await registerMany(node, 'crash', 40);
      node.killGroup('SIGKILL');
      await node.waitExit();
      const again = await NodeProcess.start(configFile);
      await assertAllPresent(again, names);
      // tids stay unique after the crash: the counter was persisted too.
      const more = await registerMany(again, 'after-crash', 5);
      const all = new Set([...names.values(), ...more.values()]);
      assert.equal(all.size, names.size + more.size);
      await again.stop();
    } finally {
      await killAllNodes();
    }
  });

  test('kill -9 of plexus alone: its orphaned redis-server is replaced on the next start', async () => {
    const node = await NodeProcess.start(configFile);
    try {
      const names = await registerMany(node, 'orphan', 10);
      node.kill('SIGKILL');
      await node.waitExit();
      const again = await NodeProcess.start(configFile);
      await assertAllPresent(again, names);
      await again.stop();
    } finally {
      await killAllNodes();
    }
  });
});
