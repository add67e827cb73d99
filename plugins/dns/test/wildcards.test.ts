import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Answer } from 'dns-packet';
import type { WildcardRules } from '../src/config.js';
import { lookup, QTYPE } from '../src/lookup.js';
import { ZoneState } from '../src/zone-state.js';
import { fileCleanup, short, header, startDns, type RunningDns } from './harness.js';
import { startRedis, type RedisServer } from './redis.js';

/**
 * `wildcards: coredns` (default) answers exactly as CoreDNS-redis's FindLocation does on the same
 * hashes; `wildcards: rfc4592` as RFC 4592 (and RFC 4343 for case). DIFFERENT lists every kind of
 * case where the two differ, each with what each rule answers; SAME pins neighbouring cases where
 * they agree. The data goes through ZoneState exactly as the store hands it over.
 */

const A = (ip: string): string => JSON.stringify({ a: [{ ip }] });
const HASHES: Record<string, Record<string, string>> = {
  'gateway.tf.': {
    '@': JSON.stringify({ soa: { ns: 'ns1.gateway.tf', MBox: 'admin.gateway.tf', minttl: 60 } }),
    '*': A('10.0.0.99'),
    'www.apps': A('10.0.0.1'),
    '*.dev': A('10.0.0.77'),
    '*.Up': A('10.0.0.78'),
    alice: A('10.0.0.2'),
    myhost: A('10.0.0.3'),
    WWW: A('10.0.0.4'),
    alias: JSON.stringify({ cname: [{ host: 'apps.gateway.tf' }] }),
  },
  'deep.a.b.gateway.tf.': { '@': A('10.0.0.5') },
  // CoreDNS asks Redis for the lowercased key only.
  'Other.Test.': { x: A('10.0.0.6') },
};
const SERVED = ['gateway.tf', 'other.test'];

type Outcome = string; // 'A <ip>', 'NODATA' or 'NXDOMAIN' (answers joined with ' / ')

/** [what, qname, coredns answers, rfc4592 answers] */
const DIFFERENT: [string, string, Outcome, Outcome][] = [
  ['empty non-terminal (only www.apps below it) with a `*` at the apex', 'apps.gateway.tf', 'A 10.0.0.99', 'NODATA'],
  ['empty non-terminal made by a wildcard field (*.dev)', 'dev.gateway.tf', 'A 10.0.0.99', 'NODATA'],
  ['a name above a deeper zone hash (deep.a.b.gateway.tf.)', 'a.b.gateway.tf', 'A 10.0.0.99', 'NODATA'],
  ['below a name that exists only above a deeper zone hash', 'x.b.gateway.tf', 'A 10.0.0.99', 'NXDOMAIN'],
  ['a field that merely ends with the parent\'s text (myhost) stops the walk up', 'x.host.gateway.tf', 'NXDOMAIN', 'A 10.0.0.99'],
  ['a field stored in upper case (WWW) is not the lowercased query name', 'www.gateway.tf', 'A 10.0.0.99', 'A 10.0.0.4'],
  ['a wildcard field stored in upper case (*.Up)', 'x.up.gateway.tf', 'A 10.0.0.99', 'A 10.0.0.78'],
  ['a zone key stored in upper case (Other.Test.) is no zone', 'x.other.test', 'NXDOMAIN', 'A 10.0.0.6'],
  ['a CNAME target is resolved with the same rules', 'alias.gateway.tf', 'CNAME apps.gateway.tf / A 10.0.0.99', 'CNAME apps.gateway.tf / NODATA'],
];

const SAME: [string, string, Outcome][] = [
  ['a name with its own field', 'alice.gateway.tf', 'A 10.0.0.2'],
  ['a name with nothing at or below it: the bare `*`', 'nope.gateway.tf', 'A 10.0.0.99'],
  ['several labels with nothing: the bare `*`', 'p.q.r.gateway.tf', 'A 10.0.0.99'],
  ['below an empty non-terminal without its own `*`', 'y.apps.gateway.tf', 'NXDOMAIN'],
  ['below a name with data without its own `*`', 'x.alice.gateway.tf', 'NXDOMAIN'],
  ['below a wildcard parent', 'x.dev.gateway.tf', 'A 10.0.0.77'],
  ['two labels below a wildcard parent', 'a.b.dev.gateway.tf', 'A 10.0.0.77'],
  ['the deeper zone answers its apex', 'deep.a.b.gateway.tf', 'A 10.0.0.5'],
  ['the apex', 'gateway.tf', 'NODATA'],
];

function view(rules: WildcardRules): ZoneState {
  const state = new ZoneState({ prefix: '', suffix: '', zones: SERVED }, 300, () => undefined, rules);
  state.apply(new Map(Object.entries(HASHES)));
  return state;
}

function outcome(state: ZoneState, qname: string): Outcome {
  const r = lookup(state.view, qname, QTYPE.A, 0);
  if (r === undefined) return 'outside';
  const answers = r.answers.map((a: Answer) => `${a.type} ${String((a as { data: unknown }).data)}`);
  const tail = r.rcode === 'NXDOMAIN' ? ['NXDOMAIN'] : answers.length === 0 || answers.every((a) => a.startsWith('CNAME')) ? ['NODATA'] : [];
  return [...answers, ...tail].join(' / ');
}

const STATES: Record<WildcardRules, ZoneState> = { coredns: view('coredns'), rfc4592: view('rfc4592') };

for (const [what, qname, coredns, rfc4592] of DIFFERENT) {
  test(`wildcards differ: ${what}`, () => {
    assert.notEqual(coredns, rfc4592, 'a row of DIFFERENT must differ');
    assert.equal(outcome(STATES.coredns, qname), coredns, `coredns: ${qname}`);
    assert.equal(outcome(STATES.rfc4592, qname), rfc4592, `rfc4592: ${qname}`);
  });
}

for (const [what, qname, both] of SAME) {
  test(`wildcards agree: ${what}`, () => {
    assert.equal(outcome(STATES.coredns, qname), both, `coredns: ${qname}`);
    assert.equal(outcome(STATES.rfc4592, qname), both, `rfc4592: ${qname}`);
  });
}

// The option reaches the running server: the same store, one plugin per rule, asked with dig.
let redis: RedisServer;
const servers = {} as Record<WildcardRules, RunningDns>;
const cleanup = fileCleanup();

before(async () => {
  redis = await startRedis();
  const client = redis.client();
  for (const [key, fields] of Object.entries(HASHES)) await client.hset(key, fields);
  for (const rules of ['coredns', 'rfc4592'] as const) servers[rules] = await startDns(cleanup, redis, { zones: SERVED, ...(rules === 'coredns' ? {} : { wildcards: rules }) });
});

after(async () => {
  await cleanup.run();
  await redis?.stop();
});

test('dig: the default answers like CoreDNS, `wildcards: rfc4592` like RFC 4592', async () => {
  assert.deepEqual(await short(servers.coredns.port, 'apps.gateway.tf', 'A'), ['10.0.0.99']);
  const ent = await header(servers.rfc4592.port, 'apps.gateway.tf', 'A');
  assert.deepEqual([ent.status, ent.answer], ['NOERROR', 0]);
  assert.deepEqual(await short(servers.coredns.port, 'WWW.gateway.tf', 'A'), ['10.0.0.99']);
  assert.deepEqual(await short(servers.rfc4592.port, 'www.gateway.tf', 'A'), ['10.0.0.4']);
  assert.equal((await servers.rfc4592.service.status()).wildcards, 'rfc4592');
});
