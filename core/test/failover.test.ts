import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Libp2p } from 'libp2p';
import { z } from 'zod';
import { createP2pNode } from '../src/p2p/libp2p.js';
import { RpcServer, type RpcServerOptions } from '../src/rpc/server.js';
import { FailoverClient } from '../src/rpc/failover.js';
import { peerDialer } from '../src/p2p/peers.js';
import type { RpcMethods } from '../src/rpc/types.js';
import { generateKeyPair } from '../src/crypto/ed25519.js';
import { PlexusError } from '../src/errors.js';
import { silentLogger } from '../src/logger.js';
import { masterOnly } from '../src/store/master-only.js';
import type { StoreCapability } from '../src/capabilities.js';
import { freePort } from '../src/net/free-port.js';
import { rejectsWithCode } from './helpers.js';

const PROTOCOL = '/plexus/test/1';
const OPTIONS: RpcServerOptions = { maxFrameBytes: 4096, maxClockSkewMs: 30_000, maxInFlightPerStream: 16, rateLimit: { perSecond: 0, burst: 1 } };

/** An explorer stand-in: `set` applies on the master, refuses with ERR_NOT_MASTER elsewhere. */
interface Explorer {
  node: Libp2p;
  addr: string;
  applied: number;
  refused: number;
  master: () => string | undefined;
}

const explorers: Explorer[] = [];

async function explorer(master: () => string | undefined): Promise<Explorer> {
  const node = await createP2pNode({ listen: ['/ip4/127.0.0.1/tcp/0'] });
  const e: Explorer = { node, addr: node.getMultiaddrs()[0]!.toString(), applied: 0, refused: 0, master };
  const methods: RpcMethods = {
    set: {
      mutating: true,
      params: z.strictObject({ v: z.number() }),
      async handler(p: { v: number }) {
        const m = e.master();
        if (m !== undefined) {
          e.refused++;
          throw new PlexusError('ERR_NOT_MASTER', 'standby', { data: { master: m } });
        }
        e.applied++;
        return { v: p.v, at: e.addr };
      },
    },
  };
  await new RpcServer(node, OPTIONS, silentLogger()).serve(PROTOCOL, methods, silentLogger(), 'test');
  explorers.push(e);
  return e;
}

let standby: Explorer;
let master: Explorer;
let dead: string;

before(async () => {
  master = await explorer(() => undefined);
  standby = await explorer(() => master.addr);
  // Nobody listens there: the client must move on to the next explorer.
  dead = `/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${master.node.peerId.toString()}`;
});

after(async () => {
  await Promise.all(explorers.map((e) => e.node.stop()));
});

test('a FailoverClient skips an unreachable explorer and follows ERR_NOT_MASTER to the master', { timeout: 60_000 }, async () => {
  const client = new FailoverClient([dead, standby.addr], { key: generateKeyPair(), timeoutMs: 5_000, failoverMs: 20_000 });
  try {
    const result = await client.call<{ v: number; at: string }>(PROTOCOL, 'set', { v: 7 }, { signed: true });
    assert.deepEqual(result, { v: 7, at: master.addr });
    assert.equal(master.applied, 1, 'applied once, on the master');
    assert.equal(standby.refused, 1);
    assert.equal(client.current, master.addr, 'later calls go straight to the master');
    await client.call(PROTOCOL, 'set', { v: 8 }, { signed: true });
    assert.equal(standby.refused, 1);
    assert.equal(master.applied, 2);
  } finally {
    await client.close();
  }
});

test('with one explorer and no failover budget the first refusal is final', { timeout: 60_000 }, async () => {
  const client = new FailoverClient([standby.addr], { key: generateKeyPair(), timeoutMs: 5_000, failoverMs: 0 });
  try {
    const err = await rejectsWithCode(() => client.call(PROTOCOL, 'set', { v: 1 }, { signed: true }), 'ERR_NOT_MASTER');
    assert.equal(err.data?.master, master.addr);
  } finally {
    await client.close();
  }
});

test("ctx.peers.explorer(): a plugin call to a standby reaches the master, over the node's libp2p host", { timeout: 60_000 }, async () => {
  // Hosting's reports, wireguard's joins and acme's challenge records go through this client; with
  // the first configured explorer demoted by a failover they were refused with ERR_NOT_MASTER for good.
  const node = await createP2pNode({ listen: [] });
  try {
    const before = { applied: master.applied, refused: standby.refused };
    const peers = peerDialer(node, generateKeyPair(), [dead, standby.addr]);
    const client = await peers.explorer({ timeoutMs: 5_000 });
    try {
      assert.deepEqual(await client.call(PROTOCOL, 'set', { v: 9 }, { signed: true }), { v: 9, at: master.addr });
      assert.deepEqual({ applied: master.applied - before.applied, refused: standby.refused - before.refused }, { applied: 1, refused: 1 });
    } finally {
      await client.close();
    }
  } finally {
    await node.stop();
  }
  // A host with no connection yet (libp2p would reuse one to the same peer id for `dead`).
  const fresh = await createP2pNode({ listen: [] });
  try {
    const err = await rejectsWithCode(() => peerDialer(fresh, generateKeyPair(), [dead]).explorer({ timeoutMs: 2_000 }), 'ERR_CONNECT');
    assert.match(err.message, /no explorer answered/);
    await rejectsWithCode(() => peerDialer(fresh, generateKeyPair(), []).explorer(), 'ERR_CONFIG_INVALID');
  } finally {
    await fresh.stop();
  }
});

function fakeStore(hooks: Pick<StoreCapability, 'writable' | 'acknowledge'>): StoreCapability {
  return { ...hooks } as StoreCapability;
}

const call = { peer: 'p', signer: undefined, method: 'm', log: silentLogger() };
function methods(run: () => Promise<unknown>): RpcMethods {
  return {
    write: { mutating: true, params: z.strictObject({}), handler: run },
    read: { mutating: false, params: z.strictObject({}), handler: async () => 'read' },
  };
}

test('masterOnly: a standby refuses before the handler runs; a change is answered only after acknowledge', async () => {
  let ran = 0;
  const order: string[] = [];
  const refusing = masterOnly(methods(async () => ran++), fakeStore({
    writable: async () => {
      throw new PlexusError('ERR_NOT_MASTER', 'standby', { data: { master: '/ip4/10.0.0.1/tcp/4001/p2p/x' } });
    },
    acknowledge: async () => undefined,
  }));
  await rejectsWithCode(() => refusing.write!.handler({}, call), 'ERR_NOT_MASTER');
  assert.equal(ran, 0);
  assert.equal(await refusing.read!.handler({}, call), 'read', 'reads are not gated');

  const acked = masterOnly(methods(async () => order.push('write')), fakeStore({
    writable: async () => void order.push('writable'),
    acknowledge: async () => void order.push('ack'),
  }));
  await acked.write!.handler({}, call);
  assert.deepEqual(order, ['writable', 'write', 'ack']);

  const unconfirmed = masterOnly(methods(async () => 'done'), fakeStore({
    writable: async () => undefined,
    acknowledge: async () => {
      throw new PlexusError('ERR_NOT_REPLICATED', 'no replica confirmed');
    },
  }));
  await rejectsWithCode(() => unconfirmed.write!.handler({}, call), 'ERR_NOT_REPLICATED');

  const isolated = masterOnly(methods(async () => {
    throw new Error('NOREPLICAS Not enough good replicas to write.');
  }), fakeStore({ writable: async () => undefined, acknowledge: async () => undefined }));
  await rejectsWithCode(() => isolated.write!.handler({}, call), 'ERR_NOT_REPLICATED');

  const plain = methods(async () => 'x');
  assert.equal(masterOnly(plain, {} as StoreCapability), plain, 'a store outside a group changes nothing');
});
