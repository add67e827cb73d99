import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { multiaddr } from '@multiformats/multiaddr';
import { Canary, assertCanary, describeCanary } from './lib/canary.js';
import { runAttack, killAttacks } from './lib/spawn-attack.js';
import type { SlowFramesResult } from './lib/attack-streams.js';
import { ATTACKER_IP, HELLO, PHONEBOOK, RSS_LIMIT_MB, RssWatch, Target, rssMb } from './lib/target.js';
import { clientNode, header, pace, readFrames, send } from './lib/wire.js';
import { runCli } from '../lib/harness.js';

/** Issue point 2: unfinished frames must not pin the node's memory. */
describe('attack: unfinished frames pin memory', { timeout: 90_000 }, () => {
  let target: Target;
  before(async () => {
    target = await Target.start();
  });
  after(async () => {
    killAttacks();
    await target?.stop();
  });

  test('4 connections x 128 streams each dribbling a 1 MB frame: RSS < 300 MB, canary >= 99 %, hoarders closed', async (t) => {
    const baseline = await rssMb(target.pid);
    const canary = await Canary.start(target.multiaddr, t);
    const rss = new RssWatch(target.pid);
    const result = await runAttack<SlowFramesResult>(
      'slowFrames',
      {
        target: target.multiaddr,
        from: ATTACKER_IP,
        durationMs: 6000,
        connections: 4,
        streamsPerConnection: 128,
        protocols: [PHONEBOOK, HELLO],
        prefixBytes: 1_000_000,
        declared: 1_048_570,
        dribbleMs: 1000,
      },
      30_000,
    );
    const peak = await rss.stop();
    const report = await canary.stop();
    t.diagnostic(`RSS ${baseline.toFixed(0)} MB before, peak ${peak.toFixed(0)} MB; attack ${JSON.stringify(result)}; ${describeCanary(report)}`);
    assert.ok(peak < RSS_LIMIT_MB, `node RSS peaked at ${peak.toFixed(0)} MB`);
    assertCanary(report, { fresh: 20, open: 50 });
    assert.ok(result.connectionsOpened > 0 && result.streamsOpened > 0 && result.bytesSent > 1_000_000, 'the attack ran');
    assert.ok(result.connectionsClosedByNode > 0, 'the node closed connections that held unfinished frames');
    const status = await runCli(['status', '--config', target.configFile, '--json']);
    assert.ok((status.json.rpc.errors.ERR_BUFFER_LIMIT ?? 0) > 0, `closed for ERR_BUFFER_LIMIT: ${JSON.stringify(status.json.rpc)}`);
  });
});

describe('attack: a frame that never finishes (rpc.frameTimeoutMs)', { timeout: 90_000 }, () => {
  let target: Target;
  before(async () => {
    target = await Target.start({ nodeExtra: '  rpc: { frameTimeoutMs: 1500 }' });
  });
  after(async () => {
    await target?.stop();
  });

  test('a stream dribbling one byte every 200 ms is closed with ERR_FRAME_TIMEOUT; a frame finished in time is served', async (t) => {
    const canary = await Canary.start(target.multiaddr, t);
    const node = await clientNode(ATTACKER_IP);
    t.after(() => node.stop());
    const conn = await node.dial(multiaddr(target.multiaddr));
    const stream = await conn.newStream(PHONEBOOK);
    const codes: string[] = [];
    const ended = readFrames(stream, (v: { error?: { code: string } }) => v.error && codes.push(v.error.code));
    const started = Date.now();
    await send(stream, Buffer.concat([header(1000), Buffer.alloc(100, 0x20)]));
    while (conn.status === 'open' && Date.now() - started < 10_000) {
      await pace(200);
      if (stream.writeStatus === 'writable') stream.send(Buffer.from(' '));
    }
    await ended;
    const heldMs = Date.now() - started;
    const report = await canary.stop();
    t.diagnostic(`closed after ${heldMs} ms with ${codes.join(',')}; ${describeCanary(report)}`);
    assert.equal(conn.status === 'open', false, 'the connection was closed');
    assert.deepEqual(codes, ['ERR_FRAME_TIMEOUT']);
    assert.ok(heldMs >= 1400 && heldMs < 5000, `held ${heldMs} ms`);
    assertCanary(report, { fresh: 5, open: 20 });

    // Slow but within the deadline: 10 pieces 100 ms apart.
    const conn2 = await node.dial(multiaddr(target.multiaddr), { force: true });
    const stream2 = await conn2.newStream(PHONEBOOK);
    const answers: unknown[] = [];
    void readFrames(stream2, (v) => answers.push(v));
    const body = Buffer.from(JSON.stringify({ id: 1, method: 'get', params: { name: 'x'.repeat(200) } }));
    const frame = Buffer.concat([header(body.length), body]);
    for (let i = 0; i < frame.length; i += Math.ceil(frame.length / 10)) {
      await send(stream2, frame.subarray(i, i + Math.ceil(frame.length / 10)));
      await pace(100);
    }
    while (answers.length === 0 && conn2.status === 'open') await pace(20);
    assert.equal((answers[0] as { error: { code: string } }).error.code, 'ERR_NOT_FOUND');
  });
});
