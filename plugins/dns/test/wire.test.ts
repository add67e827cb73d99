import { test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import { decodeQname, parseQuery, type Query } from '../src/query.js';
import { Responder } from '../src/responder.js';
import { buildResponse, encodeBody, headerOnly } from '../src/wire.js';
import { buildView, buildZone } from '../src/zone.js';
import { parseRecords } from '../src/records.js';

/** Query parsing and response assembly, byte level. */

const q = (name: string, type: 'A' | 'TXT' = 'A', edns?: number, id = 0x1234): Buffer =>
  dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    ...(edns === undefined ? {} : { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: edns, flags: 0, options: [] } as never] }),
  });

/** dns-packet decodes the rcode, its types do not declare it. */
function rcodeOf(d: ReturnType<typeof dnsPacket.decode>): string {
  return (d as unknown as { rcode: string }).rcode;
}

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

const PARSE: [string, Buffer, string][] = [
  ['a plain query', q('Alice.Gateway.TF'), 'query alice.gateway.tf 1 edns=-'],
  ['EDNS size is read; below 512 counts as 512', q('a.tf', 'TXT', 300), 'query a.tf 16 edns=512'],
  ['EDNS size 4096', q('a.tf', 'A', 4096), 'query a.tf 1 edns=4096'],
  ['the root', hex('0001 0000 0001 0000 0000 0000 00 0002 0001'), 'query  2 edns=-'],
  ['11 bytes: dropped', hex('0001 0000 0001 0000 0000 00'), 'drop'],
  ['a response: dropped', hex('0001 8000 0001 0000 0000 0000 00 0001 0001'), 'drop'],
  ['opcode NOTIFY: NOTIMP', hex('0001 2000 0001 0000 0000 0000 00 0006 0001'), 'error 4'],
  ['two questions: FORMERR', hex('0001 0000 0002 0000 0000 0000 00 0001 0001 00 0001 0001'), 'error 1'],
  ['no question: FORMERR', hex('0001 0000 0000 0000 0000 0000'), 'error 1'],
  ['label past the end: FORMERR', hex('0001 0000 0001 0000 0000 0000 05 6162'), 'error 1'],
  ['compression pointer in the question: FORMERR', hex('0001 0000 0001 0000 0000 0000 c00c 0001 0001'), 'error 1'],
  ['question without type and class: FORMERR', hex('0001 0000 0001 0000 0000 0000 01 61 00 00'), 'error 1'],
  ['additional count with nothing there: FORMERR', hex('0001 0000 0001 0000 0000 0001 01 61 00 0001 0001'), 'error 1'],
  ['two OPT records: FORMERR', Buffer.concat([hex('0001 0000 0001 0000 0000 0002 01 61 00 0001 0001'), hex('00 0029 1000 00000000 0000'), hex('00 0029 1000 00000000 0000')]), 'error 1'],
  ['a label with a dot inside cannot match a real name', hex('0001 0000 0001 0000 0000 0000 03 612e62 02 7466 00 0001 0001'), 'query a\\.b.tf 1 edns=-'],
];

for (const [what, bytes, want] of PARSE) {
  test(`parseQuery: ${what}`, () => {
    const o = parseQuery(bytes);
    const got = o.kind === 'query' ? `query ${decodeQname(bytes)} ${o.query.qtype} edns=${o.query.edns?.udpSize ?? '-'}` : o.kind === 'error' ? `error ${o.rcode}` : 'drop';
    assert.equal(got, want);
  });
}

function parsed(msg: Buffer): Query {
  const o = parseQuery(msg);
  assert.equal(o.kind, 'query');
  return (o as { query: Query }).query;
}

test('cache keys: case folded, type included, non-ASCII apart', () => {
  const key = (b: Buffer): string => (parseQuery(b) as { query: Query }).query.key;
  assert.equal(key(q('ALICE.gateway.TF')), key(q('alice.gateway.tf')));
  assert.notEqual(key(q('alice.gateway.tf', 'A')), key(q('alice.gateway.tf', 'TXT')));
  assert.notEqual(key(q('a.b.tf')), key(hex('0001 0000 0001 0000 0000 0000 03 612e62 02 7466 00 0001 0001')));
  // Non-ASCII names are keyed by their UTF-8 text (no latin1 case folding of 0xC0..0xDE).
  assert.notEqual(key(hex('0001 0000 0001 0000 0000 0000 02 c3a0 00 0001 0001')), key(hex('0001 0000 0001 0000 0000 0000 02 c380 00 0001 0001')));
});

test('buildResponse echoes id, RD and the question bytes exactly; adds our OPT', () => {
  const msg = q('AlIcE.gateway.tf', 'A', 4096, 0xbeef);
  const body = encodeBody([{ type: 'A', name: 'alice.gateway.tf', ttl: 60, data: '10.0.0.1' }], [], []);
  const { bytes, truncated } = buildResponse(msg, parsed(msg), body, { rcode: 0, authoritative: true, maxUdpPayload: 1232, limit: 1232 });
  assert.equal(truncated, false);
  const d = dnsPacket.decode(bytes);
  assert.deepEqual([d.id, d.flag_qr, d.flag_aa, d.flag_rd, d.flag_ra, d.flag_tc], [0xbeef, true, true, true, false, false]);
  assert.equal(d.questions![0]!.name, 'AlIcE.gateway.tf');
  assert.deepEqual(d.answers!.map((a) => (a as { data: unknown }).data), ['10.0.0.1']);
  const opt = d.additionals![0] as unknown as { type: string; udpPayloadSize: number };
  assert.deepEqual([opt.type, opt.udpPayloadSize], ['OPT', 1232]);
});

test('buildResponse: over the limit gives TC=1 and no records; TCP has no limit', () => {
  const msg = q('big.gateway.tf', 'TXT');
  const answers = Array.from({ length: 10 }, (_, i) => ({ type: 'TXT' as const, name: 'big.gateway.tf', ttl: 60, data: [Buffer.alloc(100, 48 + i)] }));
  const body = encodeBody(answers, [], []);
  const udp = buildResponse(msg, parsed(msg), body, { rcode: 0, authoritative: true, maxUdpPayload: 1232, limit: 512 });
  assert.equal(udp.truncated, true);
  const d = dnsPacket.decode(udp.bytes);
  assert.deepEqual([d.flag_tc, d.answers!.length, d.questions![0]!.name], [true, 0, 'big.gateway.tf']);
  const tcp = buildResponse(msg, parsed(msg), body, { rcode: 0, authoritative: true, maxUdpPayload: 1232, limit: undefined });
  assert.equal(dnsPacket.decode(tcp.bytes).answers!.length, 10);
});

test('headerOnly echoes id and opcode', () => {
  const d = dnsPacket.decode(headerOnly(7, 0x2100, 4));
  assert.deepEqual([d.id, d.flag_qr, d.flag_rd, rcodeOf(d), (d as unknown as { opcode: string }).opcode], [7, true, true, 'NOTIMP', 'NOTIFY']);
});

test('Responder: cache hits, invalidation, BADVERS, class CH refused, AXFR refused', () => {
  const nodes = new Map([['alice', parseRecords('{"a":[{"ip":"10.0.0.1"}]}', 300, 'gateway.tf').records]]);
  let view = buildView([buildZone('gateway.tf', nodes, 300)], ['gateway.tf'], 300);
  const r = new Responder(() => view, { maxUdpPayload: 1232, forwarding: false, now: () => 1000 });
  const ask = (msg: Buffer): ReturnType<typeof dnsPacket.decode> => {
    const d = r.handle(msg, 'udp');
    assert.equal(d.kind, 'reply');
    return dnsPacket.decode((d as { bytes: Buffer }).bytes);
  };
  assert.equal((ask(q('alice.gateway.tf')).answers![0] as { data: string }).data, '10.0.0.1');
  assert.equal((ask(q('ALICE.gateway.tf', 'A', undefined, 9)).answers![0] as { data: string }).data, '10.0.0.1');
  assert.deepEqual([r.counters.answerCacheMisses, r.counters.answerCacheHits], [1, 1]);
  view = buildView([], ['gateway.tf'], 300);
  assert.equal(ask(q('alice.gateway.tf')).answers!.length, 1, 'served from cache until invalidated');
  r.invalidate();
  assert.equal(rcodeOf(ask(q('alice.gateway.tf'))), 'NXDOMAIN');

  const v1 = Buffer.concat([hex('0001 0000 0001 0000 0000 0001 01 61 00 0001 0001'), hex('00 0029 1000 00 01 0000 0000')]);
  const bad = ask(v1);
  assert.equal((bad.additionals![0] as unknown as { extendedRcode: number }).extendedRcode, 1, 'BADVERS = 16 = ext 1 << 4');
  assert.equal(rcodeOf(ask(hex('0001 0000 0001 0000 0000 0000 01 61 00 0001 0003'))), 'REFUSED');
  // AXFR of our own zone: no zone transfers here.
  assert.equal(rcodeOf(ask(hex('0001 0000 0001 0000 0000 0000 07 67617465776179 02 7466 00 00fc 0001'))), 'REFUSED');
  assert.equal(r.handle(hex('00'), 'udp').kind, 'drop');
  assert.equal(r.counters.malformed, 1);
});

test('Responder: answers holding a SOA are rebuilt when the second (the serial) changes', () => {
  let now = 1000;
  const r = new Responder(() => buildView([], ['gateway.tf'], 300), { maxUdpPayload: 1232, forwarding: false, now: () => now });
  const serial = (): number => {
    const d = r.handle(q('gateway.tf', 'A'), 'udp') as { bytes: Buffer };
    return (dnsPacket.decode(d.bytes).authorities![0] as { data: { serial: number } }).data.serial;
  };
  assert.equal(serial(), 1000);
  assert.equal(serial(), 1000);
  now = 1001;
  assert.equal(serial(), 1001);
});
