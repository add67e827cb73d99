import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordType } from '@plexus/core';
import { codeOf } from '@plexus/core/testing';
import { addRecords } from '../src/cname.js';

/** RFC 1034 §3.6.2 as a table: what may join a field, what is refused, what `replace` keeps. */

const A = '{"a":[{"ip":"10.0.0.1","ttl":300}]}';
const CNAME = '{"cname":[{"host":"threebot.gateway.tf.","ttl":300}]}';
const OPTS = { ttl: 300, fqdn: 'frank.threebot.gateway.tf' };

test('addRecords: a CNAME never shares its name; replace drops the other side', async () => {
  const table: [string, string | null, RecordType, string, string | 'ERR_CNAME_CONFLICT', string][] = [
    ['A beside A', A, 'a', '10.0.0.2', '{"a":[{"ip":"10.0.0.2","ttl":300},{"ip":"10.0.0.1","ttl":300}]}', 'same'],
    ['the same CNAME again', CNAME, 'cname', 'threebot.gateway.tf', CNAME, CNAME],
    ['A beside a CNAME', CNAME, 'a', '10.0.0.2', 'ERR_CNAME_CONFLICT', '{"a":[{"ip":"10.0.0.2","ttl":300}]}'],
    ['TXT beside a CNAME', CNAME, 'txt', 'hi', 'ERR_CNAME_CONFLICT', '{"txt":[{"text":"hi","ttl":300}]}'],
    ['CNAME beside A', A, 'cname', 'x.example.org', 'ERR_CNAME_CONFLICT', '{"cname":[{"host":"x.example.org.","ttl":300}]}'],
    ['a second CNAME target', CNAME, 'cname', 'x.example.org', 'ERR_CNAME_CONFLICT', '{"cname":[{"host":"x.example.org.","ttl":300}]}'],
    ['CNAME beside a hand-written MX', '{"mx":[{"host":"mx.example.org.","preference":10}]}', 'cname', 'x.example.org', 'ERR_CNAME_CONFLICT', '{"cname":[{"host":"x.example.org.","ttl":300}]}'],
    ['A into a field that already broke the rule', '{"cname":[{"host":"x.example.org."}],"a":[{"ip":"10.0.0.1","ttl":300}]}', 'a', '10.0.0.1', 'ERR_CNAME_CONFLICT', A],
    ['an empty array is no data', '{"a":[]}', 'cname', 'x.example.org', '{"a":[],"cname":[{"host":"x.example.org.","ttl":300}]}', 'same'],
  ];
  for (const [what, raw, type, value, refused, replaced] of table) {
    if (refused === 'ERR_CNAME_CONFLICT') assert.equal(await codeOf(() => addRecords(raw, type, [value], { ...OPTS, replace: false })), refused, what);
    else assert.equal(addRecords(raw, type, [value], { ...OPTS, replace: false }), refused, what);
    assert.equal(addRecords(raw, type, [value], { ...OPTS, replace: true }), replaced === 'same' ? refused : replaced, `${what} (replace)`);
  }
});
