import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { StoreCapability } from '@plexus/core';
import { fakeContext } from '@plexus/core/testing';
import { PhonebookRegistry } from '@plexus/plugin-phonebook';
import { plugin } from '../src/index.js';
import { startRedis, type RedisServer } from './redis.js';

/**
 * The zone apex belongs to the operator: the gateway gives a zone an apex pointing at publicIps
 * only when it has none, and never touches one that exists, however often it restarts.
 */

const CONFIG = { zones: ['threebot.gateway.tf', 'gateway.tf'], publicIps: ['203.0.113.7', '2001:db8::7'] };

let server: RedisServer | undefined;
let redis: Redis;

before(async () => {
  server = await startRedis();
  redis = server.client();
});

after(async () => {
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushdb();
});

/** Starts and stops the real gateway plugin once against the same redis, as a node restart does. */
async function restart(): Promise<void> {
  const store = { redis, role: 'master' } as unknown as StoreCapability;
  const instance = plugin.create(fakeContext(plugin, CONFIG, { capabilities: { store, phonebook: new PhonebookRegistry(redis) } }));
  await instance.start();
  await instance.stop();
}

test("an operator's hand-written apex survives 3 restarts of the gateway, byte for byte", async () => {
  // The operator removed 203.0.113.7 by hand and kept another address, a TXT and an MX.
  const handWritten = '{"a":[{"ip":"198.51.100.1","ttl":60}],"txt":[{"text":"v=spf1 -all"}],"mx":[{"host":"mx.example.org.","preference":10}]}';
  await redis.hset('threebot.gateway.tf.', '@', handWritten);
  for (let i = 1; i <= 3; i++) {
    await restart();
    assert.equal(await redis.hget('threebot.gateway.tf.', '@'), handWritten, `after restart ${i}`);
  }
});

test('a zone without an apex gets one pointing at publicIps, once', async () => {
  await redis.hset('threebot.gateway.tf.', '@', '{"a":[{"ip":"198.51.100.1"}]}');
  await restart();
  assert.equal(await redis.hget('gateway.tf.', '@'), '{"a":[{"ip":"203.0.113.7","ttl":300}],"aaaa":[{"ip":"2001:db8::7","ttl":300}]}');
  assert.equal(await redis.hget('threebot.gateway.tf.', '@'), '{"a":[{"ip":"198.51.100.1"}]}');
  // The operator edits the seeded apex: the next starts leave the edit alone.
  await redis.hset('gateway.tf.', '@', '{"aaaa":[{"ip":"2001:db8::7","ttl":300}]}');
  await restart();
  await restart();
  assert.equal(await redis.hget('gateway.tf.', '@'), '{"aaaa":[{"ip":"2001:db8::7","ttl":300}]}');
});
