import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { PlexusError, type RpcMethods, type StoreCapability } from '@plexus/core';
import { fakeContext } from '@plexus/core/testing';
import type { PhonebookRegistry } from '@plexus/plugin-phonebook';
import { GATEWAY_PROTOCOL, plugin } from '../src/index.js';
import { startRedis, type RedisServer } from './redis.js';
import { codeOf, compatKeys, invoke, nameSignature, rawService, setup, TEST_CONFIG, user, type User } from './harness.js';

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

test('ip expose: tcp service + CNAME @ in the name hash (COMPAT §4), no A record beside the CNAME', async () => {
  const r = await invoke(methods, 'domain_tcpservice_ip_expose', { threebot_name: 'alice', privateip: '10.2.0.5', signature: nameSignature('alice', alice.key) }, alice);
  assert.deepEqual(r, { fqdn: 'alice.threebot.gateway.tf', privateip: '10.2.0.5' });
  assert.deepEqual(await compatKeys(redis), ['/tcprouter/service/alice.threebot.gateway.tf', 'alice.threebot.gateway.tf.']);

  const svc = await rawService(redis, '/tcprouter/service/alice.threebot.gateway.tf');
  assert.deepEqual(svc.outerKeys, ['Key', 'Value']);
  assert.equal(svc.Key, '/tcprouter/service/alice.threebot.gateway.tf');
  assert.equal(svc.inner, '{"addr": "10.2.0.5", "tlsport": 443, "httpport": 80, "clientsecret": ""}');
  assert.deepEqual(await redis.hgetall('alice.threebot.gateway.tf.'), { '@': '{"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}' });

  // Exposing again is idempotent; another private address only changes the route.
  await invoke(methods, 'domain_tcpservice_ip_expose', { threebot_name: 'alice', privateip: '10.2.0.5', signature: nameSignature('alice', alice.key) }, alice);
  await invoke(methods, 'domain_tcpservice_ip_expose', { threebot_name: 'alice', privateip: 'fd00::5', signature: nameSignature('alice', alice.key) }, alice);
  assert.deepEqual(await redis.hgetall('alice.threebot.gateway.tf.'), { '@': '{"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}' });
  assert.equal(await redis.exists('threebot.gateway.tf.'), 0, 'nothing written beside the CNAME');
  assert.equal((await rawService(redis, '/tcprouter/service/alice.threebot.gateway.tf')).inner, '{"addr": "fd00::5", "tlsport": 443, "httpport": 80, "clientsecret": ""}');
});

test('client expose: client route with the secret, name pointed at the public addresses', async () => {
  const r = await invoke(methods, 'domain_tcpservice_client_expose', { threebot_name: 'alice', client_secret: 's3cret-value', signature: nameSignature('alice', alice.key) }, alice);
  assert.deepEqual(r, { fqdn: 'alice.threebot.gateway.tf', ip_address: '185.69.166.1', ips: ['185.69.166.1', '2a02:1802:5e::1'] });
  assert.equal((await rawService(redis, '/tcprouter/service/alice.threebot.gateway.tf')).inner, '{"addr": "", "tlsport": 443, "httpport": 80, "clientsecret": "s3cret-value"}');
  assert.deepEqual(await redis.hgetall('threebot.gateway.tf.'), { alice: '{"a":[{"ip":"185.69.166.1","ttl":300}],"aaaa":[{"ip":"2a02:1802:5e::1","ttl":300}]}' });

  const listed = await invoke(methods, 'list', { name: 'alice' });
  assert.ok(!JSON.stringify(listed).includes('s3cret-value'), 'list never shows a client secret');
  assert.deepEqual(listed, {
    name: 'alice',
    entries: [
      { kind: 'dns', domain: 'threebot.gateway.tf', name: 'alice', fqdn: 'alice.threebot.gateway.tf', records: { a: [{ ip: '185.69.166.1', ttl: 300 }], aaaa: [{ ip: '2a02:1802:5e::1', ttl: 300 }] } },
      { kind: 'tcp', domain: 'alice.threebot.gateway.tf', addr: '', tlsport: 443, httpport: 80, tunnel: true },
    ],
  });
});

test('client expose without publicIps is refused with its own message', async () => {
  const bare = setup(redis, { zones: ['gateway.tf'] });
  const params = { threebot_name: 'alice', client_secret: 'x', signature: nameSignature('alice', alice.key) };
  const err = await invoke(bare.methods, 'domain_tcpservice_client_expose', params, alice).then(() => undefined, (e: unknown) => e as PlexusError);
  assert.equal(err?.code, 'ERR_UNAVAILABLE');
  assert.match(err.message, /publicIps/);
  assert.deepEqual(await compatKeys(redis), []);
});

test('expose: bad signature, wrong signer and unknown names write nothing', async () => {
  const good = nameSignature('alice', alice.key);
  const table: [string, Record<string, unknown>, User | undefined, string][] = [
    ['signature by another key', { threebot_name: 'alice', privateip: '10.2.0.5', signature: nameSignature('alice', bob.key) }, alice, 'ERR_SIGNATURE_INVALID'],
    ['signature over another name', { threebot_name: 'alice', privateip: '10.2.0.5', signature: nameSignature('alice2', alice.key) }, alice, 'ERR_SIGNATURE_INVALID'],
    ['valid signature relayed by bob', { threebot_name: 'alice', privateip: '10.2.0.5', signature: good }, bob, 'ERR_FORBIDDEN'],
    ['unsigned envelope', { threebot_name: 'alice', privateip: '10.2.0.5', signature: good }, undefined, 'ERR_AUTH_REQUIRED'],
    ['unknown name', { threebot_name: 'zed', privateip: '10.2.0.5', signature: good }, alice, 'ERR_NOT_FOUND'],
    ['the threebot zone apex', { threebot_name: 'threebot', privateip: '10.2.0.5', signature: good }, alice, 'ERR_NOT_FOUND'],
    ['signature not hex', { threebot_name: 'alice', privateip: '10.2.0.5', signature: 'zz' }, alice, 'ERR_PARAMS_INVALID'],
  ];
  for (const [name, params, signer, code] of table) {
    assert.equal(await codeOf(invoke(methods, 'domain_tcpservice_ip_expose', params, signer)), code, name);
    const clientParams = { threebot_name: params.threebot_name, client_secret: 'sekrit', signature: params.signature };
    assert.equal(await codeOf(invoke(methods, 'domain_tcpservice_client_expose', clientParams, signer)), code, `client: ${name}`);
  }
  assert.deepEqual(await compatKeys(redis), []);
});

test('concurrent registrations of different types on one field from two connections all survive', async () => {
  // Two gateways on separate connections, as two RPC calls served in parallel would be.
  const other = setup(server!.client()).methods;
  const ips = Array.from({ length: 12 }, (_, i) => `10.4.0.${i + 1}`);
  const texts = Array.from({ length: 6 }, (_, i) => `t${i}`);
  await Promise.all([
    ...ips.map((ip, i) => invoke(i % 2 === 0 ? methods : other, 'domain_register_a', { name: 'www.alice', domain: 'gateway.tf', record_ip: ip }, alice)),
    invoke(other, 'domain_register_aaaa', { name: 'www.alice', domain: 'gateway.tf', record_ip: 'fd00::1' }, alice),
    ...texts.map((text, i) => invoke(i % 2 === 0 ? other : methods, 'domain_register_txt', { name: 'www.alice', domain: 'gateway.tf', text }, alice)),
  ]);
  const field = JSON.parse((await redis.hget('gateway.tf.', 'www.alice'))!) as Record<string, { ip?: string; host?: string; text?: string }[]>;
  assert.deepEqual(field.a!.map((r) => r.ip).sort(), [...ips].sort());
  assert.deepEqual(field.aaaa, [{ ip: 'fd00::1', ttl: 300 }]);
  assert.deepEqual(field.txt!.map((r) => r.text).sort(), texts);
});

test('a CNAME racing other records on one field: one side wins, the rest is ERR_CNAME_CONFLICT, never both', async () => {
  const other = setup(server!.client()).methods;
  const where = { name: 'www.alice', domain: 'gateway.tf' };
  const results = await Promise.allSettled([
    invoke(other, 'domain_register_cname', { ...where, host: 'alice.threebot.gateway.tf' }, alice),
    ...Array.from({ length: 6 }, (_, i) => invoke(i % 2 === 0 ? methods : other, 'domain_register_a', { ...where, record_ip: `10.4.0.${i + 1}` }, alice)),
  ]);
  const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as PlexusError).code));
  assert.ok(codes.every((c) => c === 'ok' || c === 'ERR_CNAME_CONFLICT'), codes.join());
  const field = JSON.parse((await redis.hget('gateway.tf.', 'www.alice'))!) as Record<string, unknown[]>;
  if (codes[0] === 'ok') assert.deepEqual(Object.keys(field), ['cname']);
  else assert.deepEqual(Object.keys(field), ['a']);
  assert.equal(codes.filter((c) => c === 'ok').length, codes[0] === 'ok' ? 1 : field.a!.length);
});

test('the plugin: serves the methods from its store and phonebook capabilities, status counts', async () => {
  const store = { redis, role: 'master' } as unknown as StoreCapability;
  const ctx = fakeContext(plugin, TEST_CONFIG, { capabilities: { store, phonebook } });
  const instance = plugin.create(ctx);
  assert.equal(plugin.name, 'gateway');
  assert.deepEqual([plugin.provides, plugin.requires], [['gateway'], ['store', 'phonebook']]);
  await instance.start();
  await instance.start();
  assert.deepEqual([...ctx.served.keys()], [GATEWAY_PROTOCOL]);
  const { authorizeSigner, txtFor, ...cap } = instance.capabilities!().gateway!;
  assert.deepEqual(cap, { zones: ['threebot.gateway.tf', 'gateway.tf'], threebotDomain: 'threebot.gateway.tf', publicIps: ['185.69.166.1', '2a02:1802:5e::1'] });

  // Delegated writes (acme's cert_issue) follow the owner rule of the signed methods.
  assert.equal((await authorizeSigner!(alice.pubkey, 'www.alice.threebot.gateway.tf')).name, 'alice');
  assert.equal(await codeOf(authorizeSigner!(bob.pubkey, 'alice.threebot.gateway.tf')), 'ERR_FORBIDDEN');
  await txtFor!(alice.pubkey, '_acme-challenge.alice.threebot.gateway.tf', 'add', 'v1');
  assert.equal(await codeOf(txtFor!(bob.pubkey, '_acme-challenge.alice.threebot.gateway.tf', 'add', 'v2')), 'ERR_FORBIDDEN');
  assert.equal(await redis.hget('threebot.gateway.tf.', '_acme-challenge.alice'), '{"txt":[{"text":"v1","ttl":300}]}');
  await txtFor!(alice.pubkey, '_acme-challenge.alice.threebot.gateway.tf', 'remove', 'v1');
  assert.equal(await redis.hexists('threebot.gateway.tf.', '_acme-challenge.alice'), 0);

  await ctx.call(GATEWAY_PROTOCOL, 'domain_tcpservice_ip_expose', { threebot_name: 'alice', privateip: '10.2.0.5', signature: nameSignature('alice', alice.key) }, { signer: alice.pubkey });
  await ctx.call(GATEWAY_PROTOCOL, 'domain_register_a', { name: 'bob', record_ip: '10.2.0.7' }, { signer: bob.pubkey });
  const status = await instance.status!();
  assert.deepEqual({ names: status.names, dnsFields: status.dnsFields, tcpServices: status.tcpServices }, { names: 2, dnsFields: 2, tcpServices: 1 });
  await ctx.call(GATEWAY_PROTOCOL, 'domain_delete', { name: 'alice' }, { signer: alice.pubkey });
  const after = await instance.status!();
  assert.deepEqual({ names: after.names, dnsFields: after.dnsFields, tcpServices: after.tcpServices }, { names: 1, dnsFields: 1, tcpServices: 0 });
  await instance.stop();
  await instance.stop();
  assert.equal(ctx.served.size, 0, 'stop unserves the protocol');
});

test('a record under an exposed name goes into the name hash, where DNS servers read it', async () => {
  await invoke(methods, 'domain_tcpservice_ip_expose', { threebot_name: 'alice', privateip: '10.2.0.5', signature: nameSignature('alice', alice.key) }, alice);
  const r = (await invoke(methods, 'domain_register_a', { name: 'www.alice', record_ip: '10.2.0.8' }, alice)) as { domain: string; name: string };
  assert.deepEqual([r.domain, r.name], ['alice.threebot.gateway.tf', 'www']);
  assert.equal(await redis.hget('alice.threebot.gateway.tf.', 'www'), '{"a":[{"ip":"10.2.0.8","ttl":300}]}');
  assert.equal(await redis.hget('threebot.gateway.tf.', 'www.alice'), null, 'nothing shadowed in the parent hash');
  // Without the more specific hash the record stays where it was asked for.
  const b = (await invoke(methods, 'domain_register_a', { name: 'www.bob', record_ip: '10.2.0.9' }, bob)) as { domain: string; name: string };
  assert.deepEqual([b.domain, b.name], ['threebot.gateway.tf', 'www.bob']);
});
