import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { PhonebookRegistry } from '@plexus/plugin-phonebook';
import type { RpcMethods } from '@plexus/core';
import type { ListedEntry } from '../src/gateway.js';
import { startRedis, type RedisServer } from './redis.js';
import { codeOf, invoke, nameSignature, setup, user, type User } from './harness.js';

/**
 * A write that creates a deeper zone hash moves the names below it there (placement.ts), so
 * nothing that resolved before is shadowed. DNS answers for these layouts: test/gateway-dns.e2e.test.ts.
 */

let server: RedisServer | undefined;
let redis: Redis;
let phonebook: PhonebookRegistry;
let methods: RpcMethods;
let alice: User;
let bob: User;

const ZONE = 'threebot.gateway.tf.';
const ALICE = 'alice.threebot.gateway.tf.';

before(async () => {
  server = await startRedis();
  redis = server.client();
  ({ phonebook, methods } = setup(redis));
});

after(async () => {
  await server?.stop();
});

beforeEach(async () => {
  await redis.flushdb();
  alice = await user(phonebook, 'alice');
  bob = await user(phonebook, 'bob');
});

const expose = (u: User, extra: Record<string, unknown> = {}): Promise<unknown> =>
  invoke(methods, 'domain_tcpservice_ip_expose', { threebot_name: u.name, privateip: '10.2.0.5', signature: nameSignature(u.name, u.key), ...extra }, u);

async function listed(name: string): Promise<{ fqdn: string; domain: string; name: string; shadowedBy?: string }[]> {
  const r = await invoke<{ entries: ListedEntry[] }>(methods, 'list', { name });
  return r.entries.flatMap((e) => (e.kind === 'dns' ? [{ fqdn: e.fqdn, domain: e.domain, name: e.name, ...(e.shadowedBy === undefined ? {} : { shadowedBy: e.shadowedBy }) }] : [])).sort((a, b) => (a.fqdn < b.fqdn ? -1 : a.fqdn > b.fqdn ? 1 : 0));
}

test('expose --ip moves the names below it into the new hash: A, TXT, wildcard, _acme-challenge; the index follows', async () => {
  await invoke(methods, 'domain_register_a', { name: 'www.alice', record_ip: '10.0.0.1' }, alice);
  await invoke(methods, 'domain_register_txt', { name: '_acme-challenge.alice', text: 'token' }, alice);
  await invoke(methods, 'domain_register_a', { name: '*.alice', record_ip: '10.0.0.2' }, alice);
  await invoke(methods, 'domain_register_a', { name: 'bob', record_ip: '10.0.0.3' }, bob);
  await redis.hset(ZONE, 'xalice', '{"a":[{"ip":"10.0.0.4"}]}', 'WWW2.Alice', '{"a":[{"ip":"10.0.0.5"}]}');
  const fqdnsBefore = (await listed('alice')).map((e) => e.fqdn);

  await expose(alice);
  assert.deepEqual(await redis.hgetall(ALICE), {
    www: '{"a":[{"ip":"10.0.0.1","ttl":300}]}',
    '_acme-challenge': '{"txt":[{"text":"token","ttl":300}]}',
    '*': '{"a":[{"ip":"10.0.0.2","ttl":300}]}',
    WWW2: '{"a":[{"ip":"10.0.0.5"}]}',
    '@': '{"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}',
  });
  assert.deepEqual(await redis.hgetall(ZONE), { bob: '{"a":[{"ip":"10.0.0.3","ttl":300}]}', xalice: '{"a":[{"ip":"10.0.0.4"}]}' }, 'only names at or below alice moved');

  const after = await listed('alice');
  assert.deepEqual(after.map((e) => e.fqdn), [...fqdnsBefore, 'alice.threebot.gateway.tf'].sort(), 'gateway list shows the same names, plus the CNAME');
  assert.ok(after.every((e) => e.domain === 'alice.threebot.gateway.tf' && e.shadowedBy === undefined), JSON.stringify(after));
  assert.deepEqual(await invoke(methods, 'list', { name: 'bob' }), { name: 'bob', entries: [{ kind: 'dns', domain: 'threebot.gateway.tf', name: 'bob', fqdn: 'bob.threebot.gateway.tf', records: { a: [{ ip: '10.0.0.3', ttl: 300 }] } }] });
  // The moved fields are still alice's: she deletes them by their name, wherever they are stored.
  assert.deepEqual(await invoke(methods, 'domain_delete', { name: 'www.alice' }, alice), { fqdn: 'www.alice.threebot.gateway.tf', removed: 1 });
  assert.equal(await redis.hexists(ALICE, 'www'), 0);
});

test("expose --ip on a name with its own records: ERR_CNAME_CONFLICT and nothing moved; --replace swaps them for the CNAME", async () => {
  await invoke(methods, 'domain_register_a', { name: 'alice', record_ip: '10.0.0.9' }, alice);
  await invoke(methods, 'domain_register_txt', { name: '_acme-challenge.alice', text: 'token' }, alice);
  assert.equal(await codeOf(expose(alice)), 'ERR_CNAME_CONFLICT');
  assert.equal(await redis.exists(ALICE), 0);
  assert.equal(await redis.exists('/tcprouter/service/alice.threebot.gateway.tf'), 0, 'all or nothing');
  assert.deepEqual(Object.keys(await redis.hgetall(ZONE)).sort(), ['_acme-challenge.alice', 'alice']);

  await expose(alice, { replace: true });
  assert.deepEqual(await redis.hgetall(ALICE), { '_acme-challenge': '{"txt":[{"text":"token","ttl":300}]}', '@': '{"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}' });
  assert.equal(await redis.exists(ZONE), 0);
  // After an ip expose an address on the name itself is a conflict too (the brief's frank case).
  assert.equal(await codeOf(invoke(methods, 'domain_register_a', { name: 'alice', record_ip: '10.0.0.9' }, alice)), 'ERR_CNAME_CONFLICT');
  const swapped = await invoke<{ records: unknown }>(methods, 'domain_register_a', { name: 'alice', record_ip: '10.0.0.9', replace: true }, alice);
  assert.deepEqual(swapped.records, { a: [{ ip: '10.0.0.9', ttl: 300 }] });
});

test("a record asked for in the name's own hash creates it and keeps the name's own A as @", async () => {
  await invoke(methods, 'domain_register_a', { name: 'bob', record_ip: '10.0.0.3' }, bob);
  const r = await invoke<{ domain: string; name: string; records: unknown }>(methods, 'domain_register_txt', { name: '@', domain: 'bob.threebot.gateway.tf', text: 'hello' }, bob);
  assert.deepEqual([r.domain, r.name, r.records], ['bob.threebot.gateway.tf', '@', { a: [{ ip: '10.0.0.3', ttl: 300 }], txt: [{ text: 'hello', ttl: 300 }] }]);
  assert.equal(await redis.exists(ZONE), 0);
  assert.deepEqual(await listed('bob'), [{ fqdn: 'bob.threebot.gateway.tf', domain: 'bob.threebot.gateway.tf', name: '@' }]);
});

test('data shadowed before this rule is listed as not answered', async () => {
  await redis.hset(ALICE, '@', '{"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}');
  // An older gateway wrote alice's A into the zone hash beside her own hash.
  await redis.hset(ZONE, 'alice', '{"a":[{"ip":"10.2.0.5","ttl":300}]}');
  await redis.sadd('gateway:name:alice', '["dns","threebot.gateway.tf","alice"]');
  assert.deepEqual(await listed('alice'), [{ fqdn: 'alice.threebot.gateway.tf', domain: 'threebot.gateway.tf', name: 'alice', shadowedBy: 'alice.threebot.gateway.tf' }]);
});

test('registrations racing the expose that splits their hash all end up in the new hash', async () => {
  const other = setup(server!.client()).methods;
  const names = Array.from({ length: 16 }, (_, i) => `n${i}.alice`);
  await Promise.all([
    expose(alice),
    ...names.map((name, i) => invoke(i % 2 === 0 ? methods : other, 'domain_register_txt', { name, text: name }, alice)),
  ]);
  assert.equal(await redis.exists(ZONE), 0, 'nothing left shadowed in the zone hash');
  const fields = await redis.hgetall(ALICE);
  for (const name of names) assert.equal(fields[name.slice(0, -'.alice'.length)], JSON.stringify({ txt: [{ text: name, ttl: 300 }] }), name);
  assert.equal((await listed('alice')).length, names.length + 1);
});
