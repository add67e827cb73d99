import { test } from 'node:test';
import assert from 'node:assert/strict';
import nacl from 'tweetnacl';
import { toHex, verifyHex } from '@plexus/core';
import { payloadBuild, recordPayload, updateKeyPayload } from '../src/crypto/signatures.js';

const CASES: { name: string; fields: (string | number)[]; text: string }[] = [
  { name: 'the COMPAT example', fields: [12, 'bob', 'b@x', '', '', 'ab'], text: '12bobb@xab' },
  { name: 'no fields', fields: [], text: '' },
  { name: 'only empty strings', fields: ['', '', ''], text: '' },
  { name: 'zero', fields: [0], text: '0' },
  { name: 'numbers as decimal, no padding or exponent', fields: [1, 10, 100, 1e15], text: '1101001000000000000000' },
  { name: 'negative number', fields: [-5, 'x'], text: '-5x' },
  { name: 'largest safe integer', fields: [Number.MAX_SAFE_INTEGER], text: '9007199254740991' },
  { name: 'no separator: adjacent numbers run together', fields: [1, 23, 4], text: '1234' },
  { name: 'digits in strings are kept as text', fields: ['007', 7], text: '0077' },
  { name: 'UTF-8 strings', fields: [3, 'zoë', 'ü@例え.jp', '日本', '😀'], text: '3zoëü@例え.jp日本😀' },
  { name: 'whitespace is kept', fields: [' a ', '\n', '\t'], text: ' a \n\t' },
];

for (const c of CASES) {
  test(`payloadBuild: ${c.name}`, () => {
    assert.deepEqual(Buffer.from(payloadBuild(...c.fields)), Buffer.from(c.text, 'utf8'));
  });
}

test('payloadBuild encodes strings as UTF-8 bytes', () => {
  assert.deepEqual([...payloadBuild('é')], [0xc3, 0xa9]);
  assert.deepEqual([...payloadBuild('😀')], [0xf0, 0x9f, 0x98, 0x80]);
});

test('payloadBuild refuses numbers that have no exact decimal integer form', () => {
  for (const n of [1.5, NaN, Infinity, -Infinity, 2 ** 53]) assert.throws(() => payloadBuild(n), RangeError, String(n));
});

const PUB = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';

test('recordPayload is payload_build(tid, name, email, ipaddr, description, pubkey) in that order', () => {
  const r = { pubkey: PUB, description: 'desc', ipaddr: '10.0.0.1', email: 'b@x', name: 'bob', tid: 12 };
  assert.equal(Buffer.from(recordPayload(r)).toString('utf8'), `12bobb@x10.0.0.1desc${PUB}`);
});

test('updateKeyPayload is payload_build(tid, new_pubkey)', () => {
  assert.equal(Buffer.from(updateKeyPayload(7, PUB)).toString('utf8'), `7${PUB}`);
});

test('a tweetnacl signature over recordPayload verifies with verifyHex, and only for that record', () => {
  const pair = nacl.sign.keyPair();
  const pubkey = toHex(pair.publicKey);
  const record = { tid: 42, name: 'alice.example', email: 'alice@example.org', ipaddr: '2001:db8::1', description: 'héllo wörld', pubkey };
  const sig = toHex(nacl.sign.detached(recordPayload(record), pair.secretKey));
  assert.equal(sig.length, 128);
  assert.equal(verifyHex(recordPayload(record), sig, pubkey), true);
  for (const [field, value] of Object.entries({ tid: 43, name: 'alice.exampl', email: 'alice@example.com', ipaddr: '', description: 'hello world' })) {
    assert.equal(verifyHex(recordPayload({ ...record, [field]: value }), sig, pubkey), false, field);
  }
  // Moving a character from one field to the next gives the same bytes: that is payload_build's design.
  assert.equal(verifyHex(recordPayload({ ...record, name: 'alice.exampl', email: 'ealice@example.org' }), sig, pubkey), true);
  assert.equal(verifyHex(recordPayload(record), sig, toHex(nacl.sign.keyPair().publicKey)), false);
});

test('a tweetnacl signature over updateKeyPayload verifies with the old key', () => {
  const old = nacl.sign.keyPair();
  const next = toHex(nacl.sign.keyPair().publicKey);
  const sig = toHex(nacl.sign.detached(updateKeyPayload(5, next), old.secretKey));
  assert.equal(verifyHex(updateKeyPayload(5, next), sig, toHex(old.publicKey)), true);
  assert.equal(verifyHex(updateKeyPayload(6, next), sig, toHex(old.publicKey)), false);
});
