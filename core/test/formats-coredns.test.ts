import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FieldFormatError, type RecordType, buildEntry, canonicalValue, countRecords, mergeRecords, parseField, removeRecords } from '../src/formats/coredns.js';

test('buildEntry writes the COMPAT §1 shape: value key first, then ttl', () => {
  const table: [RecordType, string, string][] = [
    ['a', '10.2.0.5', '{"ip":"10.2.0.5","ttl":300}'],
    ['aaaa', '2001:DB8:0:0::1', '{"ip":"2001:db8::1","ttl":300}'],
    ['cname', 'Threebot.Gateway.TF', '{"host":"threebot.gateway.tf.","ttl":300}'],
    ['cname', 'threebot.gateway.tf.', '{"host":"threebot.gateway.tf.","ttl":300}'],
    ['txt', 'v=spf1 -all', '{"text":"v=spf1 -all","ttl":300}'],
  ];
  for (const [type, value, json] of table) assert.equal(JSON.stringify(buildEntry(type, value, 300)), json, `${type} ${value}`);
});

test('canonicalValue makes equal records compare equal', () => {
  assert.equal(canonicalValue('aaaa', '2001:0db8:0000::0001'), '2001:db8::1');
  assert.equal(canonicalValue('a', 'not-an-ip'), 'not-an-ip', 'unreadable stored values stay as they are');
  assert.equal(canonicalValue('txt', 'Case Kept'), 'Case Kept');
});

test('mergeRecords: new first, existing after, no duplicates, other types kept verbatim', () => {
  const table: { name: string; raw: string | null; type: RecordType; values: string[]; want: string }[] = [
    { name: 'absent field', raw: null, type: 'a', values: ['10.2.0.5'], want: '{"a":[{"ip":"10.2.0.5","ttl":300}]}' },
    {
      name: 'second address goes first (original order)',
      raw: '{"a":[{"ip":"10.2.0.5","ttl":300}]}',
      type: 'a',
      values: ['10.2.0.6'],
      want: '{"a":[{"ip":"10.2.0.6","ttl":300},{"ip":"10.2.0.5","ttl":300}]}',
    },
    {
      name: 'same address again: one record, new ttl',
      raw: '{"a":[{"ip":"10.2.0.5","ttl":60},{"ip":"10.2.0.9","ttl":60}]}',
      type: 'a',
      values: ['10.2.0.5'],
      want: '{"a":[{"ip":"10.2.0.5","ttl":300},{"ip":"10.2.0.9","ttl":60}]}',
    },
    {
      name: 'duplicates inside the call collapse',
      raw: null,
      type: 'a',
      values: ['10.2.0.5', '10.2.0.5'],
      want: '{"a":[{"ip":"10.2.0.5","ttl":300}]}',
    },
    {
      name: 'record without ttl (original writer) is the same record',
      raw: '{"a":[{"ip":"10.2.0.5"}]}',
      type: 'a',
      values: ['10.2.0.5'],
      want: '{"a":[{"ip":"10.2.0.5","ttl":300}]}',
    },
    {
      name: 'other types of the field stay where they were',
      raw: '{"mx":[{"host":"mx.example.org.","preference":10}],"a":[{"ip":"10.2.0.5","ttl":300}],"soa":{"ttl":300,"minttl":60}}',
      type: 'cname',
      values: ['threebot.gateway.tf'],
      want: '{"mx":[{"host":"mx.example.org.","preference":10}],"a":[{"ip":"10.2.0.5","ttl":300}],"soa":{"ttl":300,"minttl":60},"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}',
    },
    {
      name: 'cname compares case- and dot-insensitively',
      raw: '{"cname":[{"host":"Threebot.Gateway.TF","ttl":300}]}',
      type: 'cname',
      values: ['threebot.gateway.tf.'],
      want: '{"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}',
    },
    {
      name: 'ipv6 spelled differently is the same record',
      raw: '{"aaaa":[{"ip":"2001:0db8::0001","ttl":300}]}',
      type: 'aaaa',
      values: ['2001:db8::1'],
      want: '{"aaaa":[{"ip":"2001:db8::1","ttl":300}]}',
    },
    {
      name: 'txt keeps both texts',
      raw: '{"txt":[{"text":"one","ttl":300}]}',
      type: 'txt',
      values: ['two'],
      want: '{"txt":[{"text":"two","ttl":300},{"text":"one","ttl":300}]}',
    },
    {
      name: 'malformed entries of the type are kept, never deduplicated away',
      raw: '{"a":[{"weird":true},"x"]}',
      type: 'a',
      values: ['10.2.0.5'],
      want: '{"a":[{"ip":"10.2.0.5","ttl":300},{"weird":true},"x"]}',
    },
    { name: 'a non-array value of the type is replaced', raw: '{"a":{"ip":"1.1.1.1"}}', type: 'a', values: ['10.2.0.5'], want: '{"a":[{"ip":"10.2.0.5","ttl":300}]}' },
  ];
  for (const row of table) assert.equal(mergeRecords(row.raw, row.type, row.values, 300), row.want, row.name);
});

test('removeRecords: one value, one type, the whole field', () => {
  const field = '{"a":[{"ip":"10.2.0.5","ttl":300},{"ip":"10.2.0.6","ttl":300}],"txt":[{"text":"t","ttl":300}]}';
  const table: { name: string; raw: string | null; type?: RecordType; value?: string; want: { value: string | null; removed: number } }[] = [
    { name: 'one address', raw: field, type: 'a', value: '10.2.0.5', want: { value: '{"a":[{"ip":"10.2.0.6","ttl":300}],"txt":[{"text":"t","ttl":300}]}', removed: 1 } },
    { name: 'a whole type', raw: field, type: 'a', want: { value: '{"txt":[{"text":"t","ttl":300}]}', removed: 2 } },
    { name: 'last type → field deleted', raw: '{"txt":[{"text":"t","ttl":300}]}', type: 'txt', value: 't', want: { value: null, removed: 1 } },
    { name: 'whole field', raw: field, want: { value: null, removed: 3 } },
    { name: 'missing value: unchanged', raw: field, type: 'a', value: '10.9.9.9', want: { value: field, removed: 0 } },
    { name: 'missing type: unchanged', raw: field, type: 'cname', want: { value: field, removed: 0 } },
    { name: 'absent field', raw: null, type: 'a', want: { value: null, removed: 0 } },
    { name: 'cname value matched canonically', raw: '{"cname":[{"host":"x.org.","ttl":1}]}', type: 'cname', value: 'X.org', want: { value: null, removed: 1 } },
    { name: 'unreadable field can still be deleted whole', raw: 'garbage', want: { value: null, removed: 1 } },
  ];
  for (const row of table) assert.deepEqual(removeRecords(row.raw, row.type, row.value), row.want, row.name);
});

test('parseField refuses values that are not JSON objects (merging would lose them)', () => {
  for (const raw of ['garbage', '[]', '"a"', 'null', '3']) assert.throws(() => parseField(raw), FieldFormatError, raw);
  assert.throws(() => mergeRecords('[1]', 'a', ['10.2.0.5'], 300), FieldFormatError);
  assert.deepEqual(parseField(null), {});
});

test('countRecords counts array entries and single-object types', () => {
  assert.equal(countRecords({ a: [{}, {}], soa: { ttl: 1 }, txt: [] }), 3);
});
