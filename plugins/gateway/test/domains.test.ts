import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalIp, isRecordName, zoneKey, zoneOf } from '@plexus/core';
import { codeOf } from '@plexus/core/testing';
import { GatewayConfigSchema } from '../src/config.js';
import { ownerCandidates, placesOf, resolveTarget } from '../src/domains.js';

const ZONES = ['gateway.tf', 'threebot.gateway.tf'];


test('zoneOf picks the most specific zone', () => {
  const table: [string, string | undefined][] = [
    ['alice.gateway.tf', 'gateway.tf'],
    ['alice.threebot.gateway.tf', 'threebot.gateway.tf'],
    ['threebot.gateway.tf', 'threebot.gateway.tf'],
    ['xgateway.tf', undefined],
    ['example.org', undefined],
  ];
  for (const [fqdn, zone] of table) assert.equal(zoneOf(fqdn, ZONES), zone, fqdn);
});

test('resolveTarget: where a record goes and who may own it', () => {
  const table: { name: string; domain: string; fqdn: string; zone: string; candidates: string[] }[] = [
    { name: 'alice', domain: 'threebot.gateway.tf', fqdn: 'alice.threebot.gateway.tf', zone: 'threebot.gateway.tf', candidates: ['alice'] },
    { name: '@', domain: 'alice.threebot.gateway.tf', fqdn: 'alice.threebot.gateway.tf', zone: 'threebot.gateway.tf', candidates: ['alice'] },
    { name: 'www.alice', domain: 'gateway.tf', fqdn: 'www.alice.gateway.tf', zone: 'gateway.tf', candidates: ['alice', 'www.alice'] },
    { name: '*.alice', domain: 'gateway.tf', fqdn: '*.alice.gateway.tf', zone: 'gateway.tf', candidates: ['alice'] },
    { name: '_acme-challenge', domain: 'alice.gateway.tf', fqdn: '_acme-challenge.alice.gateway.tf', zone: 'gateway.tf', candidates: ['alice'] },
    { name: 'carol.example', domain: 'gateway.tf', fqdn: 'carol.example.gateway.tf', zone: 'gateway.tf', candidates: ['example', 'carol.example'] },
    // The hash that answers is decided with the store in hand (placement), not here.
    { name: 'alice.threebot', domain: 'gateway.tf', fqdn: 'alice.threebot.gateway.tf', zone: 'threebot.gateway.tf', candidates: ['alice'] },
  ];
  for (const row of table) {
    const t = resolveTarget(row.name, row.domain, ZONES);
    assert.deepEqual(t, { fqdn: row.fqdn, domain: row.domain, field: row.name, zone: row.zone, candidates: row.candidates }, `${row.name} in ${row.domain}`);
  }
});

test('resolveTarget refuses what belongs to nobody or to the operator', async () => {
  const table: [string, string, string][] = [
    ['alice', 'example.org', 'ERR_FORBIDDEN'], // not a managed zone
    ['@', 'gateway.tf', 'ERR_FORBIDDEN'], // zone apex
    ['threebot', 'gateway.tf', 'ERR_FORBIDDEN'], // apex of the more specific zone
    ['@', 'threebot.gateway.tf', 'ERR_FORBIDDEN'],
    ['*', 'gateway.tf', 'ERR_FORBIDDEN'], // wildcard directly in the zone: no name below
    ['_dmarc', 'gateway.tf', 'ERR_FORBIDDEN'], // not a possible phonebook name
    [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(60)}`, 'gateway.tf', 'ERR_PARAMS_INVALID'], // > 253
  ];
  for (const [name, domain, code] of table) assert.equal(await codeOf(() => resolveTarget(name, domain, ZONES)), code, `${name} in ${domain}`);
});

test('ownerCandidates keeps only possible phonebook names, highest first', () => {
  assert.deepEqual(ownerCandidates('a.b.c'), ['c', 'b.c', 'a.b.c']);
  assert.deepEqual(ownerCandidates('_x.*.alice'), ['alice']);
  assert.deepEqual(ownerCandidates('Bad_Name'), []);
});

test('placesOf lists every hash/field that can hold a DNS name', () => {
  assert.deepEqual(placesOf('www.alice.gateway.tf', 'gateway.tf'), [
    { domain: 'www.alice.gateway.tf', field: '@' },
    { domain: 'alice.gateway.tf', field: 'www' },
    { domain: 'gateway.tf', field: 'www.alice' },
  ]);
});

test('zoneKey = prefix + domain + "." + suffix (COMPAT §1)', () => {
  assert.equal(zoneKey('threebot.gateway.tf', '', ''), 'threebot.gateway.tf.');
  assert.equal(zoneKey('gateway.tf', 'dns:', ':z'), 'dns:gateway.tf.:z');
});

test('record names and ip canonical forms', () => {
  for (const ok of ['@', '*', 'alice', '*.alice', '_ssh._tcp.alice', 'a-b.c']) assert.ok(isRecordName(ok), ok);
  for (const bad of ['', 'a..b', 'alice.*', '-a', 'a-', 'a b', 'a/b', '@.alice']) assert.ok(!isRecordName(bad), bad);
  assert.deepEqual(canonicalIp('2001:DB8::0:1'), { ip: '2001:db8::1', family: 6 });
  for (const bad of ['01.2.3.4', '1.2.3', 'fe80::1%eth0', 'x']) assert.equal(canonicalIp(bad), undefined, bad);
});

test('config: defaults, normalisation and refusals', () => {
  const ok = GatewayConfigSchema.parse({ zones: ['Gateway.TF.', 'threebot.gateway.tf'], publicIps: ['2001:DB8::1'] });
  assert.deepEqual(ok, { zones: ['gateway.tf', 'threebot.gateway.tf'], threebotDomain: 'gateway.tf', publicIps: ['2001:db8::1'], ttl: 300, keyPrefix: '', keySuffix: '' });
  const table: [string, unknown, string][] = [
    ['no zones', { zones: [] }, 'zones'],
    ['threebotDomain outside zones', { zones: ['gateway.tf'], threebotDomain: 'other.tf' }, 'threebotDomain'],
    ['bad ip', { zones: ['gateway.tf'], publicIps: ['1.2.3'] }, 'publicIps.0'],
    ['unknown key', { zones: ['gateway.tf'], ttll: 3 }, ''],
    ['repeated zone', { zones: ['gateway.tf', 'gateway.tf.'] }, 'zones'],
    ['ttl 0', { zones: ['gateway.tf'], ttl: 0 }, 'ttl'],
  ];
  for (const [name, input, path] of table) {
    const r = GatewayConfigSchema.safeParse(input);
    assert.equal(r.success, false, name);
    assert.equal(r.error!.issues[0]!.path.join('.'), path, name);
  }
});
