import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { dig, fileCleanup, header, section, short, startDns, type RunningDns } from './harness.js';
import { startRedis, type RedisServer } from './redis.js';

/**
 * The plugin against a real redis-server, queried with the real `dig`, over UDP and TCP. The data
 * is written with HSET in the exact format of COMPAT.md §1, as the gateway (or an operator) does.
 */

const LONG_TEXT = `${'a'.repeat(255)}${'b'.repeat(255)}${'c'.repeat(90)}`;
const ZONE_DATA: Record<string, Record<string, unknown>> = {
  'gateway.tf.': {
    '@': {
      soa: { ttl: 300, ns: 'ns1.gateway.tf', MBox: 'admin.gateway.tf', refresh: 44, retry: 55, expire: 66, minttl: 100 },
      ns: [{ host: 'ns1.gateway.tf' }, { host: 'ns2.gateway.tf' }],
      mx: [{ host: 'mail.gateway.tf', preference: 10 }],
      caa: [{ flag: 0, tag: 'issue', value: 'letsencrypt.org' }],
    },
    ns1: { a: [{ ip: '10.0.0.53' }] },
    ns2: { a: [{ ip: '10.0.0.54' }], aaaa: [{ ip: '2001:db8::54' }] },
    mail: { a: [{ ip: '10.0.0.25', ttl: 30 }] },
    alice: { a: [{ ip: '10.2.0.5', ttl: 300 }, { ip: '10.2.0.6', ttl: 60 }], aaaa: [{ ip: '2001:db8::5' }] },
    www: { cname: [{ host: 'alice.gateway.tf' }] },
    ext: { cname: [{ host: 'example.org' }] },
    long: { txt: [{ text: LONG_TEXT }] },
    _sip: {},
    '_sip._tcp': { srv: [{ priority: 10, weight: 5, port: 5060, target: 'alice.gateway.tf' }] },
    '*.dev': { a: [{ ip: '10.9.9.9' }] },
    // 24 TXT records of 200 bytes: ~5 KB, more than any UDP answer may carry.
    big: { txt: Array.from({ length: 24 }, (_, i) => ({ text: `${String(i).padStart(2, '0')}${'x'.repeat(198)}` })) },
  },
  'threebot.gateway.tf.': { '@': { a: [{ ip: '10.3.0.1' }] }, bob: { a: [{ ip: '10.3.0.2' }] } },
  // What the gateway's domain_tcpservice_ip_expose writes: `@` of `fqdn.` aliases the threebot domain.
  'bob.threebot.gateway.tf.': { '@': { cname: [{ host: 'threebot.gateway.tf' }] } },
};

let redis: RedisServer;
let client: Redis;
let dns: RunningDns;
const cleanup = fileCleanup();

before(async () => {
  redis = await startRedis();
  client = redis.client();
  for (const [key, fields] of Object.entries(ZONE_DATA)) {
    for (const [field, value] of Object.entries(fields)) await client.hset(key, field, JSON.stringify(value));
  }
  // A bad value costs its field only; a bad entry costs that entry only.
  await client.hset('gateway.tf.', 'broken', 'not json {');
  await client.hset('gateway.tf.', 'mixed', '{"a":[{"ip":"bad"},{"ip":"10.1.1.1"}],"txt":"not an array"}');
  dns = await startDns(cleanup, redis, { zones: ['gateway.tf', 'example.test'], ttl: 300 });
});

after(async () => {
  await cleanup.run();
  await redis?.stop();
});

test('A and AAAA, with the TTL rule min(record, plugin)', async () => {
  assert.deepEqual(await section(dns.port, 'alice.gateway.tf', 'A', 'answer'), [
    'alice.gateway.tf. 300 IN A 10.2.0.5',
    'alice.gateway.tf. 60 IN A 10.2.0.6',
  ]);
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'AAAA'), ['2001:db8::5']);
  const h = await header(dns.port, 'alice.gateway.tf', 'A');
  assert.equal(h.status, 'NOERROR');
  assert.ok(h.flags.includes('aa'), `AA flag: ${h.flags.join(' ')}`);
});

test('CNAME answers carry the target records; a CNAME query gets them as additionals', async () => {
  assert.deepEqual(await short(dns.port, 'www.gateway.tf', 'A'), ['10.2.0.5', '10.2.0.6', 'alice.gateway.tf.']);
  assert.deepEqual(await short(dns.port, 'www.gateway.tf', 'CNAME'), ['alice.gateway.tf.']);
  const extra = await section(dns.port, 'www.gateway.tf', 'CNAME', 'additional');
  assert.deepEqual(extra.filter((l) => !l.includes('OPT')).map((l) => l.split(' ').slice(3).join(' ')).sort(), ['A 10.2.0.5', 'A 10.2.0.6', 'AAAA 2001:db8::5']);
  // A target outside our zones is left to the client.
  assert.deepEqual(await short(dns.port, 'ext.gateway.tf', 'A'), ['example.org.']);
  // Zone selection: the most specific hash wins, and the alias target is followed into its zone.
  assert.deepEqual(await short(dns.port, 'bob.threebot.gateway.tf', 'A'), ['10.3.0.1', 'threebot.gateway.tf.']);
});

test('TXT longer than 255 bytes is answered in 255-byte chunks', async () => {
  const [line] = await short(dns.port, 'long.gateway.tf', 'TXT');
  const chunks = [...line!.matchAll(/"([^"]*)"/g)].map((m) => m[1]!);
  assert.deepEqual(chunks.map((c) => c.length), [255, 255, 90]);
  assert.equal(chunks.join(''), LONG_TEXT);
});

test('NS with glue, SOA as stored, MX, SRV and CAA', async () => {
  assert.deepEqual(await short(dns.port, 'gateway.tf', 'NS'), ['ns1.gateway.tf.', 'ns2.gateway.tf.']);
  const glue = await section(dns.port, 'gateway.tf', 'NS', 'additional');
  assert.deepEqual(glue.filter((l) => !l.includes('OPT')).map((l) => `${l.split(' ')[0]} ${l.split(' ')[4]}`).sort(), [
    'ns1.gateway.tf. 10.0.0.53',
    'ns2.gateway.tf. 10.0.0.54',
    'ns2.gateway.tf. 2001:db8::54',
  ]);
  const [soa] = await short(dns.port, 'gateway.tf', 'SOA');
  const [mname, rname, serial, ...timers] = soa!.split(' ');
  assert.deepEqual([mname, rname, timers.join(' ')], ['ns1.gateway.tf.', 'admin.gateway.tf.', '44 55 66 100']);
  assert.ok(Math.abs(Number(serial) - Date.now() / 1000) < 5, `serial is the current unix time: ${serial}`);
  assert.deepEqual(await short(dns.port, 'gateway.tf', 'MX'), ['10 mail.gateway.tf.']);
  assert.deepEqual(await short(dns.port, '_sip._tcp.gateway.tf', 'SRV'), ['10 5 5060 alice.gateway.tf.']);
  assert.deepEqual(await short(dns.port, 'gateway.tf', 'CAA'), ['0 issue "letsencrypt.org"']);
});

test('a zone without SOA gets a made-up one', async () => {
  const [soa] = await short(dns.port, 'example.test', 'SOA');
  const parts = soa!.split(' ');
  assert.deepEqual([...parts.slice(0, 2), ...parts.slice(3)], ['ns1.example.test.', 'hostmaster.example.test.', '86400', '7200', '3600', '300']);
});

test('wildcards: the closest *.<rest>, walking up', async () => {
  assert.deepEqual(await short(dns.port, 'x.dev.gateway.tf', 'A'), ['10.9.9.9']);
  assert.deepEqual(await short(dns.port, 'a.b.dev.gateway.tf', 'A'), ['10.9.9.9']);
  assert.deepEqual(await section(dns.port, 'x.dev.gateway.tf', 'A', 'answer'), ['x.dev.gateway.tf. 300 IN A 10.9.9.9']);
});

test('NXDOMAIN and NODATA carry the zone SOA in authority', async () => {
  const nx = await header(dns.port, 'nope.gateway.tf', 'A');
  assert.deepEqual([nx.status, nx.answer, nx.authority], ['NXDOMAIN', 0, 1]);
  assert.ok(nx.flags.includes('aa'));
  const auth = await section(dns.port, 'nope.gateway.tf', 'A', 'authority');
  // Negative TTL: min(SOA ttl 300, minttl 100), RFC 2308.
  assert.match(auth[0]!, /^gateway\.tf\. 100 IN SOA ns1\.gateway\.tf\. admin\.gateway\.tf\. \d+ 44 55 66 100$/);
  const nodata = await header(dns.port, 'alice.gateway.tf', 'TXT');
  assert.deepEqual([nodata.status, nodata.answer, nodata.authority], ['NOERROR', 0, 1]);
  // `_tcp` exists only as the parent of `_sip._tcp`, and the zone has no `*`: CoreDNS-redis (the
  // default rules) finds no location for it, NXDOMAIN; RFC 4592 rules: wildcards.test.ts.
  const ent = await header(dns.port, '_tcp.gateway.tf', 'A');
  assert.deepEqual([ent.status, ent.answer, ent.authority], ['NXDOMAIN', 0, 1]);
});

test('bad values in the store cost only themselves', async () => {
  assert.deepEqual(await short(dns.port, 'mixed.gateway.tf', 'A'), ['10.1.1.1']);
  assert.equal((await header(dns.port, 'broken.gateway.tf', 'A')).status, 'NOERROR');
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A'), ['10.2.0.5', '10.2.0.6']);
});

test('names outside the zones are REFUSED when there are no forwarders', async () => {
  const h = await header(dns.port, 'example.org', 'A');
  assert.equal(h.status, 'REFUSED');
  assert.ok(!h.flags.includes('aa'));
});

test('case is ignored and the question is echoed exactly (0x20)', async () => {
  assert.deepEqual(await short(dns.port, 'AlIcE.GaTeWaY.tF', 'A'), ['10.2.0.5', '10.2.0.6']);
  const q = await dig(dns.port, ['AlIcE.GaTeWaY.tF', 'A', '+noall', '+question']);
  assert.match(q, /;AlIcE\.GaTeWaY\.tF\.\s+IN\s+A/);
});

test('TCP, and several queries over one connection', async () => {
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'A', '+tcp'), ['10.2.0.5', '10.2.0.6']);
  // dig with several questions and +keepopen sends them over the same TCP connection.
  const out = await dig(dns.port, ['+tcp', '+keepopen', '+short', 'alice.gateway.tf', 'AAAA', 'mail.gateway.tf', 'A', 'gateway.tf', 'MX']);
  assert.deepEqual(out.trim().split('\n').sort(), ['10 mail.gateway.tf.', '10.0.0.25', '2001:db8::5']);
});

test('EDNS0: our payload size is echoed; too big for UDP gives TC, then TCP gives it all', async () => {
  const edns = await dig(dns.port, ['alice.gateway.tf', 'A', '+noall', '+comments', '+bufsize=4096']);
  assert.match(edns, /EDNS: version: 0, flags:; udp: 1232/);
  const before = (await dns.service.status()).truncated as number;
  const tc = await header(dns.port, 'big.gateway.tf', 'TXT', '+ignore', '+bufsize=4096');
  assert.deepEqual([tc.status, tc.answer], ['NOERROR', 0]);
  assert.ok(tc.flags.includes('tc'), `TC flag: ${tc.flags.join(' ')}`);
  // Without +ignore dig retries over TCP by itself, as a resolver does.
  assert.equal((await short(dns.port, 'big.gateway.tf', 'TXT')).length, 24);
  assert.ok(((await dns.service.status()).truncated as number) > before);
  // Without EDNS the limit is 512 bytes.
  assert.ok((await header(dns.port, 'big.gateway.tf', 'TXT', '+ignore', '+noedns')).flags.includes('tc'));
});

test('ANY gets one RRset (RFC 8482)', async () => {
  assert.deepEqual(await short(dns.port, 'alice.gateway.tf', 'ANY'), ['10.2.0.5', '10.2.0.6']);
});

test('a record written by hand with redis-cli is served (COMPAT.md example)', async () => {
  await promisify(execFile)('redis-cli', ['-p', String(redis.port), 'HSET', 'threebot.gateway.tf.', 'alice', '{"a":[{"ip":"10.2.0.5","ttl":300}]}']);
  const deadline = Date.now() + 2000;
  let got: string[] = [];
  while (Date.now() < deadline && got.length === 0) got = await short(dns.port, 'alice.threebot.gateway.tf', 'A');
  assert.deepEqual(got, ['10.2.0.5']);
  assert.deepEqual(await section(dns.port, 'alice.threebot.gateway.tf', 'A', 'answer'), ['alice.threebot.gateway.tf. 300 IN A 10.2.0.5']);
});

test('status() counts queries by rcode and reports the cache', async () => {
  const s = await dns.service.status();
  const rcodes = s.rcodes as Record<string, number>;
  assert.ok((s.queries as number) > 20);
  assert.ok(rcodes.NOERROR! > 10 && rcodes.NXDOMAIN! >= 1 && rcodes.REFUSED! >= 1, JSON.stringify(rcodes));
  const cache = s.cache as Record<string, number | string>;
  assert.equal(cache.mode, 'keyspace');
  assert.equal(cache.keys, 3);
  assert.ok((cache.records as number) >= 15);
});
