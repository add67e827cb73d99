import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { PhonebookRegistry } from '@plexus/plugin-phonebook';
import type { RpcMethods } from '@plexus/core';
import { startRedis, type RedisServer } from './redis.js';
import { codeOf, compatKeys, invoke, nameSignature, rawService, setup, user, type User } from './harness.js';

let server: RedisServer | undefined;
let redis: Redis;
let phonebook: PhonebookRegistry;
let methods: RpcMethods;
let alice: User;
let bob: User;

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

const HASH = 'threebot.gateway.tf.';

test('register A, AAAA, CNAME, TXT: exact COMPAT §1 JSON in the zone hash, merged without duplicates', async () => {
  await invoke(methods, 'domain_register_a', { name: 'alice', record_ip: '10.2.0.5' }, alice);
  assert.equal(await redis.hget(HASH, 'alice'), '{"a":[{"ip":"10.2.0.5","ttl":300}]}');

  await invoke(methods, 'domain_register_a', { name: 'alice', domain: 'threebot.gateway.tf.', record_ip: ['10.2.0.5', '10.2.0.6'] }, alice);
  assert.equal(await redis.hget(HASH, 'alice'), '{"a":[{"ip":"10.2.0.5","ttl":300},{"ip":"10.2.0.6","ttl":300}]}', 'no duplicate of 10.2.0.5');

  await invoke(methods, 'domain_register_aaaa', { name: 'alice', record_ip: '2001:DB8:0::1' }, alice);
  await invoke(methods, 'domain_register_txt', { name: 'alice', text: 'hello "world"' }, alice);
  await invoke(methods, 'domain_register_aaaa', { name: 'alice', record_ip: '2001:db8::1' }, alice);
  assert.equal(
    await redis.hget(HASH, 'alice'),
    '{"a":[{"ip":"10.2.0.5","ttl":300},{"ip":"10.2.0.6","ttl":300}],"aaaa":[{"ip":"2001:db8::1","ttl":300}],"txt":[{"text":"hello \\"world\\"","ttl":300}]}',
  );

  const r = await invoke<{ fqdn: string; records: unknown }>(methods, 'domain_register_cname', { name: 'www.alice', domain: 'gateway.tf', host: 'Alice.Threebot.Gateway.TF' }, alice);
  assert.equal(r.fqdn, 'www.alice.gateway.tf');
  assert.equal(await redis.hget('gateway.tf.', 'www.alice'), '{"cname":[{"host":"alice.threebot.gateway.tf.","ttl":300}]}');
  assert.deepEqual(await compatKeys(redis), ['gateway.tf.', HASH]);
});

test('register keeps the types another tool wrote in the same field', async () => {
  await redis.hset(HASH, 'alice', '{"mx":[{"host":"mx.example.org.","preference":10,"ttl":60}],"soa":{"ttl":300,"minttl":60}}');
  await invoke(methods, 'domain_register_a', { name: 'alice', record_ip: '10.2.0.5' }, alice);
  assert.equal(await redis.hget(HASH, 'alice'), '{"mx":[{"host":"mx.example.org.","preference":10,"ttl":60}],"soa":{"ttl":300,"minttl":60},"a":[{"ip":"10.2.0.5","ttl":300}]}');
});

test('only the key the phonebook holds for the name may change it', async () => {
  const cases: [string, Record<string, unknown>][] = [
    ['domain_register_a', { name: 'alice', record_ip: '10.2.0.5' }],
    ['domain_register_cname', { name: 'www.alice', domain: 'gateway.tf', host: 'evil.example.org' }],
    ['domain_register_txt', { name: '_acme-challenge.alice', text: 'x' }],
    ['domain_delete', { name: 'alice' }],
    ['tcpservice_ip_register', { domain: 'alice.threebot.gateway.tf', privateip: '10.9.9.9' }],
    ['tcpservice_client_register', { domain: 'www.alice.gateway.tf', client_secret: 'stolen' }],
  ];
  for (const [method, params] of cases) {
    assert.equal(await codeOf(invoke(methods, method, params, bob)), 'ERR_FORBIDDEN', `${method} signed by bob`);
    assert.equal(await codeOf(invoke(methods, method, params)), 'ERR_AUTH_REQUIRED', `${method} unsigned`);
  }
  assert.deepEqual(await compatKeys(redis), [], 'nothing written');
  assert.equal(await codeOf(invoke(methods, 'domain_register_a', { name: 'bob', record_ip: '10.2.0.7' }, bob)), 'no error');
});

test("a domain above the zone is refused, naming the hash that answers the name (frank's own hash once it exists)", async () => {
  const frank = await user(phonebook, 'frank');
  const params = { name: 'www.frank.threebot', domain: 'gateway.tf', record_ip: '10.5.0.1' };
  const refusal = (): Promise<{ code?: string; data?: Record<string, unknown> } | undefined> => invoke(methods, 'domain_register_a', params, frank).then(() => undefined, (e: unknown) => e as { code: string });
  const before = await refusal();
  assert.deepEqual([before?.code, before?.data?.hash, before?.data?.name], ['ERR_PARAMS_INVALID', 'threebot.gateway.tf', 'www.frank']);
  await invoke(methods, 'domain_tcpservice_ip_expose', { threebot_name: 'frank', privateip: '10.5.0.2', signature: nameSignature('frank', frank.key) }, frank);
  const after = await refusal();
  assert.deepEqual([after?.code, after?.data?.hash, after?.data?.name], ['ERR_PARAMS_INVALID', 'frank.threebot.gateway.tf', 'www']);
});

test('unknown names, foreign zones and zone apexes are refused', async () => {
  const table: [string, Record<string, unknown>, string][] = [
    ['domain_register_a', { name: 'zed', record_ip: '10.2.0.5' }, 'ERR_NOT_FOUND'],
    ['domain_register_a', { name: 'www.zed', domain: 'gateway.tf', record_ip: '10.2.0.5' }, 'ERR_NOT_FOUND'],
    ['tcpservice_ip_register', { domain: 'zed.gateway.tf', privateip: '10.2.0.5' }, 'ERR_NOT_FOUND'],
    ['domain_register_a', { name: 'alice', domain: 'example.org', record_ip: '10.2.0.5' }, 'ERR_FORBIDDEN'],
    ['domain_register_a', { name: '@', domain: 'gateway.tf', record_ip: '10.2.0.5' }, 'ERR_FORBIDDEN'],
    ['domain_register_a', { name: 'threebot', domain: 'gateway.tf', record_ip: '10.2.0.5' }, 'ERR_FORBIDDEN'],
    ['tcpservice_ip_register', { domain: 'gateway.tf', privateip: '10.2.0.5' }, 'ERR_FORBIDDEN'],
  ];
  for (const [method, params, code] of table) assert.equal(await codeOf(invoke(methods, method, params, alice)), code, `${method} ${JSON.stringify(params)}`);
  assert.deepEqual(await compatKeys(redis), []);
});

test('bad params: wrong family, long TXT, bad ports and names', async () => {
  const table: [string, Record<string, unknown>, string][] = [
    ['domain_register_a', { name: 'alice', record_ip: '2001:db8::1' }, 'record_ip'],
    ['domain_register_aaaa', { name: 'alice', record_ip: '10.2.0.5' }, 'record_ip'],
    ['domain_register_a', { name: 'alice', record_ip: '10.2.0.256' }, 'record_ip'],
    ['domain_register_a', { name: 'alice', record_ip: [] }, 'record_ip'],
    ['domain_register_txt', { name: 'alice', text: 'x'.repeat(2049) }, 'text'],
    ['domain_register_txt', { name: 'alice', text: 'a\nb' }, 'text'],
    ['domain_register_cname', { name: 'alice', host: 'not a host' }, 'host'],
    ['domain_register_a', { name: 'Alice Smith', record_ip: '10.2.0.5' }, 'name'],
    ['domain_register_a', { name: 'alice', record_ip: '10.2.0.5', extra: 1 }, '(params)'],
    ['tcpservice_ip_register', { domain: 'alice.gateway.tf', privateip: '10.2.0.5', tlsport: 0 }, 'tlsport'],
    ['tcpservice_ip_register', { domain: 'alice.gateway.tf', privateip: '10.2.0.5', httpport: 65536 }, 'httpport'],
    ['tcpservice_client_register', { domain: 'alice.gateway.tf', client_secret: 'has space' }, 'client_secret'],
    ['domain_delete', { name: 'alice', value: '10.2.0.5' }, 'value'],
  ];
  for (const [method, params, path] of table) {
    const err = await invoke(methods, method, params, alice).then(() => undefined, (e: unknown) => e as { code: string; data?: { path?: string } });
    assert.equal(err?.code, 'ERR_PARAMS_INVALID', `${method} ${JSON.stringify(params).slice(0, 80)}`);
    assert.equal(err?.data?.path, path, `${method} path`);
  }
});

test('tcpservice_ip_register and tcpservice_client_register write the COMPAT §2 value', async () => {
  await invoke(methods, 'tcpservice_ip_register', { domain: 'WWW.Alice.Gateway.TF', privateip: '10.2.0.5', tlsport: 8443, httpport: 8080 }, alice);
  const ip = await rawService(redis, '/tcprouter/service/www.alice.gateway.tf');
  assert.deepEqual(ip.outerKeys, ['Key', 'Value']);
  assert.equal(ip.Key, '/tcprouter/service/www.alice.gateway.tf');
  assert.equal(ip.inner, '{"addr": "10.2.0.5", "tlsport": 8443, "httpport": 8080, "clientsecret": ""}');

  await invoke(methods, 'tcpservice_client_register', { domain: 'www.alice.gateway.tf', client_secret: 'foobar' }, alice);
  const client = await rawService(redis, '/tcprouter/service/www.alice.gateway.tf');
  assert.equal(client.inner, '{"addr": "", "tlsport": 443, "httpport": 80, "clientsecret": "foobar"}', 'replaced, not merged');
});

test('delete: one value, one type, then everything for the DNS name', async () => {
  await invoke(methods, 'domain_register_a', { name: 'alice', record_ip: ['10.2.0.5', '10.2.0.6'] }, alice);
  await invoke(methods, 'domain_register_txt', { name: 'alice', text: 't' }, alice);
  await invoke(methods, 'tcpservice_ip_register', { domain: 'alice.threebot.gateway.tf', privateip: '10.2.0.5' }, alice);
  await invoke(methods, 'domain_register_a', { name: 'bob', record_ip: '10.2.0.7' }, bob);

  assert.deepEqual(await invoke(methods, 'domain_delete', { name: 'alice', type: 'a', value: '10.2.0.5' }, alice), { fqdn: 'alice.threebot.gateway.tf', removed: 1 });
  assert.equal(await redis.hget(HASH, 'alice'), '{"a":[{"ip":"10.2.0.6","ttl":300}],"txt":[{"text":"t","ttl":300}]}');
  // A record below the name in its own hash: alice's field moves there as `@` (see split.test.ts).
  await invoke(methods, 'domain_register_txt', { name: '_acme-challenge', domain: 'alice.threebot.gateway.tf', text: 'tok' }, alice);
  assert.equal(await redis.hexists(HASH, 'alice'), 0);
  // A typed delete asked for in the zone reaches the hash that answers the name.
  assert.deepEqual(await invoke(methods, 'domain_delete', { name: 'alice', type: 'a' }, alice), { fqdn: 'alice.threebot.gateway.tf', removed: 1 });
  assert.equal(await redis.hget('alice.threebot.gateway.tf.', '@'), '{"txt":[{"text":"t","ttl":300}]}');

  // Everything: the name's field in every hash that can hold it, and the route; not the names below.
  assert.deepEqual(await invoke(methods, 'domain_delete', { name: 'alice' }, alice), { fqdn: 'alice.threebot.gateway.tf', removed: 2 });
  assert.equal(await redis.hexists('alice.threebot.gateway.tf.', '@'), 0);
  assert.equal(await redis.exists('/tcprouter/service/alice.threebot.gateway.tf'), 0);
  assert.equal(await redis.hget('alice.threebot.gateway.tf.', '_acme-challenge'), '{"txt":[{"text":"tok","ttl":300}]}');
  assert.equal(await redis.hget(HASH, 'bob'), '{"a":[{"ip":"10.2.0.7","ttl":300}]}', "bob's record untouched");
  assert.deepEqual(await invoke(methods, 'domain_delete', { name: 'alice' }, alice), { fqdn: 'alice.threebot.gateway.tf', removed: 0 }, 'idempotent');
  await invoke(methods, 'domain_delete', { name: '_acme-challenge.alice' }, alice);
  assert.deepEqual(await invoke(methods, 'list', { name: 'alice' }), { name: 'alice', entries: [] });
});

/** A phonebook entry as a phonebook without the descendant rule could have stored it (README, Storage). */
async function legacyName(name: string, pubkey: string): Promise<void> {
  const tid = await redis.incr('phonebook:seq');
  await redis.hset(`phonebook:user:${tid}`, { tid, name, email: `${name}@example.org`, pubkey, wallet_name: '', ipaddr: '', description: '', created: 0, updated: 0 });
  await redis.set(`phonebook:name:${name}`, tid);
  await redis.zadd('phonebook:tids', tid, tid);
}

test('the highest registered name owns everything below it, even a dotted name registered by another key', async () => {
  const example = await user(phonebook, 'example');
  // Registered before the phonebook refused names below another key's name.
  const carol = { ...(await user(phonebook, 'carol')), name: 'carol.example' };
  await legacyName('carol.example', carol.pubkey);
  const table: [string, Record<string, unknown>, User, string][] = [
    ['domain_register_a', { name: 'carol.example', domain: 'gateway.tf', record_ip: '10.3.0.1' }, carol, 'ERR_FORBIDDEN'],
    ['domain_register_txt', { name: '_acme-challenge.carol.example', domain: 'gateway.tf', text: 'x' }, carol, 'ERR_FORBIDDEN'],
    ['tcpservice_ip_register', { domain: 'carol.example.gateway.tf', privateip: '10.3.0.9' }, carol, 'ERR_FORBIDDEN'],
    ['domain_register_a', { name: 'carol.example', domain: 'gateway.tf', record_ip: '10.3.0.1' }, example, 'no error'],
    ['domain_register_a', { name: 'www.example', domain: 'gateway.tf', record_ip: '10.3.0.3' }, example, 'no error'],
    ['domain_delete', { name: 'carol.example', domain: 'gateway.tf' }, carol, 'ERR_FORBIDDEN'],
  ];
  for (const [method, params, signer, code] of table) assert.equal(await codeOf(invoke(methods, method, params, signer)), code, `${method} ${JSON.stringify(params)} by ${signer.name}`);
  assert.equal(await redis.hget('gateway.tf.', 'carol.example'), '{"a":[{"ip":"10.3.0.1","ttl":300}]}');
  const err = await invoke(methods, 'domain_register_a', { name: 'www.carol.example', domain: 'gateway.tf', record_ip: '6.6.6.6' }, carol).then(
    () => undefined,
    (e: unknown) => e as { data?: Record<string, unknown> },
  );
  assert.deepEqual([err?.data?.name, err?.data?.owner], ['example', example.pubkey], 'the error names the owning name and key');
});

test('keyPrefix and keySuffix wrap the hash key like the redis plugin', async () => {
  const prefixed = setup(redis, { zones: ['gateway.tf'], keyPrefix: 'dns:', keySuffix: ':v1' });
  await invoke(prefixed.methods, 'domain_register_a', { name: 'alice', record_ip: '10.2.0.5' }, alice);
  assert.deepEqual(await compatKeys(redis), ['dns:gateway.tf.:v1']);
  assert.equal(await redis.hget('dns:gateway.tf.:v1', 'alice'), '{"a":[{"ip":"10.2.0.5","ttl":300}]}');
});
