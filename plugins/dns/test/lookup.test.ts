import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Answer } from 'dns-packet';
import { lookup, QTYPE } from '../src/lookup.js';
import { parseRecords, type NodeRecords } from '../src/records.js';
import type { WildcardRules } from '../src/config.js';
import { buildView, buildZone, type ZoneView } from '../src/zone.js';

/**
 * Lookup rules of COMPAT.md §1 as a table: data, question, expected sections. Every row holds for
 * both `wildcards` rules; the cases where they differ are in wildcards.test.ts.
 */

const NOW = 1_700_000_000;

function makeView(spec: Record<string, Record<string, unknown>>, served: string[], rules: WildcardRules): ZoneView {
  const zones = Object.entries(spec).map(([name, fields]) => {
    const nodes = new Map<string, NodeRecords>();
    for (const [f, v] of Object.entries(fields)) nodes.set(f, parseRecords(JSON.stringify(v), 300, name).records);
    return buildZone(name, nodes, 300, rules);
  });
  return buildView(zones, served, 300, rules);
}

const SPEC: [Record<string, Record<string, unknown>>, string[]] = [
  {
    'gateway.tf': {
      '@': { soa: { ns: 'ns1.gateway.tf', MBox: 'admin.gateway.tf', minttl: 60 }, ns: [{ host: 'ns1.gateway.tf' }, { host: 'ns.elsewhere.org' }], mx: [{ host: 'mail.gateway.tf', preference: 5 }] },
      ns1: { a: [{ ip: '10.0.0.53' }], aaaa: [{ ip: '2001:db8::53' }] },
      mail: { a: [{ ip: '10.0.0.25' }] },
      alice: { a: [{ ip: '10.0.0.1' }], txt: [{ text: 'hello' }] },
      www: { cname: [{ host: 'alice.gateway.tf' }] },
      chain1: { cname: [{ host: 'chain2.gateway.tf' }] },
      chain2: { cname: [{ host: 'www.gateway.tf' }] },
      loop1: { cname: [{ host: 'loop2.gateway.tf' }] },
      loop2: { cname: [{ host: 'loop1.gateway.tf' }] },
      dangling: { cname: [{ host: 'missing.gateway.tf' }] },
      outside: { cname: [{ host: 'example.org' }] },
      cross: { cname: [{ host: 'bob.threebot.gateway.tf' }] },
      both: { cname: [{ host: 'alice.gateway.tf' }], a: [{ ip: '10.9.9.9' }] },
      '*': { a: [{ ip: '10.0.0.99' }] },
      '*.dev': { a: [{ ip: '10.0.0.77' }] },
      '_sip._tcp': { srv: [{ priority: 1, weight: 2, port: 5060, target: 'alice.gateway.tf' }] },
    },
    'threebot.gateway.tf': { bob: { a: [{ ip: '10.3.0.2' }] } },
    'bob.threebot.gateway.tf': { '@': { cname: [{ host: 'threebot.gateway.tf' }] } },
    'deep.a.b.gateway.tf': { '@': { a: [{ ip: '10.4.0.1' }] } },
  },
  ['gateway.tf', 'empty.test'],
];
const VIEWS: Record<WildcardRules, ZoneView> = { coredns: makeView(...SPEC, 'coredns'), rfc4592: makeView(...SPEC, 'rfc4592') };

function rr(a: Answer): string {
  const d = (a as { data: unknown }).data;
  if (a.type === 'SOA') {
    const s = d as { mname: string; rname: string; serial: number; minimum: number };
    return `${a.name} ${a.ttl} SOA ${s.mname} ${s.rname} ${s.serial === NOW ? 'now' : s.serial} ${s.minimum}`;
  }
  if (a.type === 'MX') return `${a.name} MX ${(d as { preference: number; exchange: string }).preference} ${(d as { exchange: string }).exchange}`;
  if (a.type === 'SRV') return `${a.name} SRV ${(d as { target: string; port: number }).port} ${(d as { target: string }).target}`;
  if (a.type === 'TXT') return `${a.name} TXT ${(d as Buffer[]).map((b) => b.toString()).join('|')}`;
  return `${a.name} ${a.type} ${String(d)}`;
}

interface Want {
  rcode?: 'NOERROR' | 'NXDOMAIN';
  an?: string[];
  ns?: string[];
  ar?: string[];
}

const SOA_NEG = 'gateway.tf 60 SOA ns1.gateway.tf admin.gateway.tf now 60';
const CASES: [string, string, number, Want | 'outside'][] = [
  ['exact A', 'alice.gateway.tf', QTYPE.A, { an: ['alice.gateway.tf A 10.0.0.1'] }],
  ['exact TXT', 'alice.gateway.tf', QTYPE.TXT, { an: ['alice.gateway.tf TXT hello'] }],
  ['NODATA: SOA in authority with the negative TTL', 'alice.gateway.tf', QTYPE.AAAA, { ns: [SOA_NEG] }],
  ['NXDOMAIN is answered by the wildcard `*` first', 'nope.gateway.tf', QTYPE.A, { an: ['nope.gateway.tf A 10.0.0.99'] }],
  ['wildcard *.dev for one label', 'x.dev.gateway.tf', QTYPE.A, { an: ['x.dev.gateway.tf A 10.0.0.77'] }],
  ['wildcard walks up: *.b.dev missing, *.dev used', 'a.b.dev.gateway.tf', QTYPE.A, { an: ['a.b.dev.gateway.tf A 10.0.0.77'] }],
  ['wildcard walks up to the bare *', 'p.q.r.gateway.tf', QTYPE.A, { an: ['p.q.r.gateway.tf A 10.0.0.99'] }],
  ['a wildcard match with no data of the type is NODATA', 'x.dev.gateway.tf', QTYPE.TXT, { ns: [SOA_NEG] }],
  ['apex SOA', 'gateway.tf', QTYPE.SOA, { an: ['gateway.tf 300 SOA ns1.gateway.tf admin.gateway.tf now 60'] }],
  ['SOA below the apex is NODATA', 'alice.gateway.tf', QTYPE.SOA, { ns: [SOA_NEG] }],
  ['NS with glue only for targets in our data', 'gateway.tf', QTYPE.NS, { an: ['gateway.tf NS ns1.gateway.tf', 'gateway.tf NS ns.elsewhere.org'], ar: ['ns1.gateway.tf A 10.0.0.53', 'ns1.gateway.tf AAAA 2001:db8::53'] }],
  ['MX with glue', 'gateway.tf', QTYPE.MX, { an: ['gateway.tf MX 5 mail.gateway.tf'], ar: ['mail.gateway.tf A 10.0.0.25'] }],
  ['SRV with glue', '_sip._tcp.gateway.tf', QTYPE.SRV, { an: ['_sip._tcp.gateway.tf SRV 5060 alice.gateway.tf'], ar: ['alice.gateway.tf A 10.0.0.1'] }],
  ['below an existing name only its own `*` answers: NXDOMAIN, the bare `*` does not reach past it', 'x.alice.gateway.tf', QTYPE.A, { rcode: 'NXDOMAIN', ns: [SOA_NEG] }],
  ['below a name with data, without a `*` of its own', 'x._sip._tcp.gateway.tf', QTYPE.A, { rcode: 'NXDOMAIN', ns: [SOA_NEG] }],
  ['CNAME followed to the target A', 'www.gateway.tf', QTYPE.A, { an: ['www.gateway.tf CNAME alice.gateway.tf', 'alice.gateway.tf A 10.0.0.1'] }],
  ['CNAME query: the alias, target addresses as additionals', 'www.gateway.tf', QTYPE.CNAME, { an: ['www.gateway.tf CNAME alice.gateway.tf'], ar: ['alice.gateway.tf A 10.0.0.1'] }],
  ['CNAME chain', 'chain1.gateway.tf', QTYPE.A, { an: ['chain1.gateway.tf CNAME chain2.gateway.tf', 'chain2.gateway.tf CNAME www.gateway.tf', 'www.gateway.tf CNAME alice.gateway.tf', 'alice.gateway.tf A 10.0.0.1'] }],
  ['CNAME loop stops', 'loop1.gateway.tf', QTYPE.A, { an: ['loop1.gateway.tf CNAME loop2.gateway.tf', 'loop2.gateway.tf CNAME loop1.gateway.tf'] }],
  ['CNAME to a name the wildcard covers', 'dangling.gateway.tf', QTYPE.A, { an: ['dangling.gateway.tf CNAME missing.gateway.tf', 'missing.gateway.tf A 10.0.0.99'] }],
  ['CNAME out of our zones: left to the client', 'outside.gateway.tf', QTYPE.A, { an: ['outside.gateway.tf CNAME example.org'] }],
  ['CNAME into another zone hash', 'cross.gateway.tf', QTYPE.A, { an: ['cross.gateway.tf CNAME bob.threebot.gateway.tf', 'bob.threebot.gateway.tf CNAME threebot.gateway.tf'], ns: ['threebot.gateway.tf 300 SOA ns1.threebot.gateway.tf hostmaster.threebot.gateway.tf now 300'] }],
  ['records of the asked type win over a CNAME beside them', 'both.gateway.tf', QTYPE.A, { an: ['both.gateway.tf A 10.9.9.9'] }],
  ['zone selection: most specific hash', 'bob.threebot.gateway.tf', QTYPE.A, { an: ['bob.threebot.gateway.tf CNAME threebot.gateway.tf'], ns: ['threebot.gateway.tf 300 SOA ns1.threebot.gateway.tf hostmaster.threebot.gateway.tf now 300'] }],
  ['NXDOMAIN in a zone without wildcard, with its made-up SOA', 'nobody.threebot.gateway.tf', QTYPE.A, { rcode: 'NXDOMAIN', ns: ['threebot.gateway.tf 300 SOA ns1.threebot.gateway.tf hostmaster.threebot.gateway.tf now 300'] }],
  ['the deeper zone answers its apex', 'deep.a.b.gateway.tf', QTYPE.A, { an: ['deep.a.b.gateway.tf A 10.4.0.1'] }],
  ['a configured zone without any hash: NXDOMAIN with made-up SOA', 'x.empty.test', QTYPE.A, { rcode: 'NXDOMAIN', ns: ['empty.test 300 SOA ns1.empty.test hostmaster.empty.test now 300'] }],
  ['its apex exists (NODATA)', 'empty.test', QTYPE.A, { ns: ['empty.test 300 SOA ns1.empty.test hostmaster.empty.test now 300'] }],
  ['ANY: one RRset only (RFC 8482)', 'alice.gateway.tf', QTYPE.ANY, { an: ['alice.gateway.tf A 10.0.0.1'] }],
  ['unsupported type at an existing name is NODATA', 'alice.gateway.tf', 65, { ns: [SOA_NEG] }],
  ['outside every zone', 'example.org', QTYPE.A, 'outside'],
  ['a sibling that only ends like the zone is outside', 'xgateway.tf', QTYPE.A, 'outside'],
];

for (const [what, qname, qtype, want] of CASES) for (const rules of ['coredns', 'rfc4592'] as const) {
  test(`lookup (${rules}): ${what}`, () => {
    const got = lookup(VIEWS[rules], qname, qtype, NOW);
    if (want === 'outside') return assert.equal(got, undefined);
    assert.ok(got !== undefined, 'expected an answer from our zones');
    assert.deepEqual(
      { rcode: got.rcode, an: got.answers.map(rr), ns: got.authorities.map(rr), ar: got.additionals.map(rr) },
      { rcode: want.rcode ?? 'NOERROR', an: want.an ?? [], ns: want.ns ?? [], ar: want.ar ?? [] },
    );
    assert.equal(got.hasSoa, [...got.answers, ...got.authorities].some((a) => a.type === 'SOA'));
  });
}
