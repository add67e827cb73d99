import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunk255, effectiveTtl, madeUpSoa, parseRecords } from '../src/records.js';

/** COMPAT.md §1 values, good and bad, and what each becomes. TTL of the plugin is 300 throughout. */

/** Records in a compact text form, so tables stay readable. */
function compact(value: string): { sets: string[]; soa?: string; issues: number } {
  const { records, issues } = parseRecords(value, 300, 'gateway.tf');
  const sets = Object.values(records.sets).flatMap((set) =>
    set!.map((rr) => {
      const d = rr.type === 'TXT' ? rr.data.map((b) => b.length).join('+') : typeof rr.data === 'string' ? rr.data : JSON.stringify(rr.data);
      return `${rr.type} ${rr.ttl} ${d}`;
    }),
  );
  const s = records.soa;
  return { sets, ...(s === undefined ? {} : { soa: `${s.ttl} ${Object.values(s.data).join(' ')}` }), issues: issues.length };
}

const CASES: { name: string; value: string; want: ReturnType<typeof compact> }[] = [
  { name: 'A from the COMPAT example', value: '{"a":[{"ip":"10.2.0.5","ttl":300}]}', want: { sets: ['A 300 10.2.0.5'], issues: 0 } },
  { name: 'ttl above the plugin ttl is capped', value: '{"a":[{"ip":"10.2.0.5","ttl":3600}]}', want: { sets: ['A 300 10.2.0.5'], issues: 0 } },
  { name: 'ttl below is kept', value: '{"a":[{"ip":"10.2.0.5","ttl":60}]}', want: { sets: ['A 60 10.2.0.5'], issues: 0 } },
  { name: 'ttl 0 or missing means the plugin ttl', value: '{"a":[{"ip":"10.0.0.1","ttl":0},{"ip":"10.0.0.2"}]}', want: { sets: ['A 300 10.0.0.1', 'A 300 10.0.0.2'], issues: 0 } },
  { name: 'numeric-string ttl is accepted', value: '{"a":[{"ip":"10.0.0.1","ttl":"30"}]}', want: { sets: ['A 30 10.0.0.1'], issues: 0 } },
  { name: 'negative ttl: plugin ttl and an issue', value: '{"a":[{"ip":"10.0.0.1","ttl":-5}]}', want: { sets: ['A 300 10.0.0.1'], issues: 1 } },
  { name: 'AAAA', value: '{"aaaa":[{"ip":"2001:db8::1"}]}', want: { sets: ['AAAA 300 2001:db8::1'], issues: 0 } },
  { name: 'an IPv6 in a, an IPv4 in aaaa: skipped', value: '{"a":[{"ip":"::1"}],"aaaa":[{"ip":"1.2.3.4"}]}', want: { sets: [], issues: 2 } },
  { name: 'one bad entry costs that entry only', value: '{"a":[{"ip":"bad"},{"ip":"10.1.1.1"}]}', want: { sets: ['A 300 10.1.1.1'], issues: 1 } },
  { name: 'duplicates are removed', value: '{"a":[{"ip":"10.1.1.1"},{"ip":"10.1.1.1"}]}', want: { sets: ['A 300 10.1.1.1'], issues: 0 } },
  { name: 'CNAME host: trailing dot and case normalized', value: '{"cname":[{"host":"Alice.Gateway.TF."}]}', want: { sets: ['CNAME 300 alice.gateway.tf'], issues: 0 } },
  { name: 'NS', value: '{"ns":[{"host":"ns1.gateway.tf","ttl":100}]}', want: { sets: ['NS 100 ns1.gateway.tf'], issues: 0 } },
  { name: 'TXT is chunked by 255 bytes', value: JSON.stringify({ txt: [{ text: 'x'.repeat(600) }] }), want: { sets: ['TXT 300 255+255+90'], issues: 0 } },
  { name: 'empty TXT is skipped like the original', value: '{"txt":[{"text":""}]}', want: { sets: [], issues: 1 } },
  { name: 'MX', value: '{"mx":[{"host":"mail.gateway.tf","preference":10}]}', want: { sets: ['MX 300 {"exchange":"mail.gateway.tf","preference":10}'], issues: 0 } },
  { name: 'MX preference out of range', value: '{"mx":[{"host":"mail.gateway.tf","preference":70000}]}', want: { sets: [], issues: 1 } },
  {
    name: 'SRV',
    value: '{"srv":[{"priority":10,"weight":5,"port":5060,"target":"sip.gateway.tf"}]}',
    want: { sets: ['SRV 300 {"target":"sip.gateway.tf","priority":10,"weight":5,"port":5060}'], issues: 0 },
  },
  { name: 'SRV without target', value: '{"srv":[{"priority":10,"port":5060}]}', want: { sets: [], issues: 1 } },
  { name: 'CAA without ttl gets the plugin ttl', value: '{"caa":[{"flag":0,"tag":"issue","value":"letsencrypt.org"}]}', want: { sets: ['CAA 300 {"flags":0,"tag":"issue","value":"letsencrypt.org"}'], issues: 0 } },
  { name: 'CAA with an empty value is skipped', value: '{"caa":[{"flag":0,"tag":"issue","value":""}]}', want: { sets: [], issues: 1 } },
  {
    name: 'SOA as stored (MBox key as in the original)',
    value: '{"soa":{"ttl":100,"ns":"ns1.gateway.tf","MBox":"admin.gateway.tf","refresh":44,"retry":55,"expire":66,"minttl":77}}',
    want: { sets: [], soa: '100 ns1.gateway.tf admin.gateway.tf 44 55 66 77', issues: 0 },
  },
  { name: 'SOA without MBox and timers gets the made-up ones', value: '{"soa":{"ns":"ns.gateway.tf"}}', want: { sets: [], soa: '300 ns.gateway.tf hostmaster.gateway.tf 86400 7200 3600 300', issues: 0 } },
  { name: 'SOA without ns: made up entirely (as the original)', value: '{"soa":{"MBox":"x.gateway.tf"}}', want: { sets: [], issues: 0 } },
  { name: 'keys match case-insensitively like Go json', value: '{"A":[{"IP":"10.0.0.1","TTL":10}]}', want: { sets: ['A 10 10.0.0.1'], issues: 0 } },
  { name: 'not JSON', value: 'not json {', want: { sets: [], issues: 1 } },
  { name: 'JSON but not an object', value: '[1,2]', want: { sets: [], issues: 1 } },
  { name: 'a type that is not an array', value: '{"a":{"ip":"10.0.0.1"},"aaaa":[{"ip":"::1"}]}', want: { sets: ['AAAA 300 ::1'], issues: 1 } },
  { name: 'unsupported types are reported and ignored', value: '{"ptr":[{"host":"x"}],"a":[{"ip":"10.0.0.1"}]}', want: { sets: ['A 300 10.0.0.1'], issues: 1 } },
  { name: 'a host that is not a name', value: JSON.stringify({ cname: [{ host: `${'x'.repeat(64)}.tf` }] }), want: { sets: [], issues: 1 } },
  { name: 'an empty object is a name without records', value: '{}', want: { sets: [], issues: 0 } },
];

for (const c of CASES) {
  test(`parseRecords: ${c.name}`, () => {
    assert.deepEqual(compact(c.value), c.want);
  });
}

test('effectiveTtl: min(record, plugin), 0 or missing → plugin', () => {
  const table: [number | undefined, number, number][] = [
    [undefined, 300, 300],
    [0, 300, 300],
    [60, 300, 60],
    [600, 300, 300],
  ];
  for (const [rec, plugin, want] of table) assert.equal(effectiveTtl(rec, plugin), want, `${rec} ${plugin}`);
});

test('madeUpSoa follows COMPAT.md §1', () => {
  assert.deepEqual(madeUpSoa('gateway.tf', 120), {
    ttl: 120,
    data: { mname: 'ns1.gateway.tf', rname: 'hostmaster.gateway.tf', refresh: 86400, retry: 7200, expire: 3600, minimum: 120 },
  });
});

test('chunk255 splits on bytes, multi-byte characters included', () => {
  assert.deepEqual(chunk255('a'.repeat(255)).map((b) => b.length), [255]);
  assert.deepEqual(chunk255('a'.repeat(256)).map((b) => b.length), [255, 1]);
  const euro = chunk255('€'.repeat(100));
  assert.deepEqual(euro.map((b) => b.length), [255, 45]);
  assert.equal(Buffer.concat(euro).toString('utf8'), '€'.repeat(100));
});
