import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, rpcSigningBytes } from '../src/crypto/canonical.js';

const GOOD: { name: string; value: unknown; json: string }[] = [
  { name: 'null', value: null, json: 'null' },
  { name: 'booleans', value: [true, false], json: '[true,false]' },
  { name: 'integers and fractions', value: [0, -1, 1.5, 1e21, 2 ** 53], json: '[0,-1,1.5,1e+21,9007199254740992]' },
  { name: 'negative zero is zero', value: -0, json: '0' },
  { name: 'string escapes', value: 'a"b\\c\nd\te\u0001', json: '"a\\"b\\\\c\\nd\\te\\u0001"' },
  { name: 'keys sorted', value: { b: 1, a: 2, c: 3 }, json: '{"a":2,"b":1,"c":3}' },
  { name: 'insertion order does not matter', value: { c: 3, a: 2, b: 1 }, json: '{"a":2,"b":1,"c":3}' },
  { name: 'upper case sorts before lower case', value: { b: 1, B: 2, a: 3, A: 4 }, json: '{"A":4,"B":2,"a":3,"b":1}' },
  { name: 'numeric-looking keys sort as strings', value: { 10: 'x', 9: 'y', 1: 'z' }, json: '{"1":"z","10":"x","9":"y"}' },
  { name: 'nested objects sorted at every level', value: { z: { y: 1, x: { b: 2, a: 1 } }, a: [] }, json: '{"a":[],"z":{"x":{"a":1,"b":2},"y":1}}' },
  { name: 'arrays keep their order', value: [3, 1, 2, { b: 1, a: 0 }], json: '[3,1,2,{"a":0,"b":1}]' },
  { name: 'empty containers', value: { o: {}, a: [] }, json: '{"a":[],"o":{}}' },
  { name: 'unicode is kept as UTF-8, not escaped', value: { 'é': 'ünï', a: '日本' }, json: '{"a":"日本","é":"ünï"}' },
  // UTF-16 code unit order: U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB00.
  { name: 'keys sort by UTF-16 code units, not code points', value: { '\uFB00': 1, '😀': 2 }, json: '{"😀":2,"ﬀ":1}' },
  { name: 'lone surrogates are escaped', value: '\uD800', json: '"\\ud800"' },
  { name: 'undefined members dropped', value: { a: undefined, b: 1, c: { d: undefined } }, json: '{"b":1,"c":{}}' },
  { name: 'undefined in arrays becomes null', value: [undefined, 1], json: '[null,1]' },
  { name: 'objects without a prototype are plain', value: Object.assign(Object.create(null) as object, { b: 1, a: 2 }), json: '{"a":2,"b":1}' },
  { name: 'deep but allowed nesting', value: nest(60), json: `${'['.repeat(60)}0${']'.repeat(60)}` },
];

const BAD: { name: string; value: unknown }[] = [
  { name: 'NaN', value: NaN },
  { name: 'Infinity', value: Infinity },
  { name: '-Infinity inside an object', value: { a: -Infinity } },
  { name: 'NaN inside an array', value: [1, NaN] },
  { name: 'Date', value: new Date(0) },
  { name: 'Date nested', value: { when: new Date(0) } },
  { name: 'Map', value: new Map([['a', 1]]) },
  { name: 'Set', value: new Set([1]) },
  { name: 'class instance', value: new (class Point { x = 1; })() },
  { name: 'Uint8Array', value: new Uint8Array([1]) },
  { name: 'bigint', value: 1n },
  { name: 'function', value: () => 1 },
  { name: 'symbol', value: Symbol('s') },
  { name: 'top-level undefined', value: undefined },
  { name: 'nested too deeply', value: nest(100) },
];

function nest(depth: number): unknown {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

for (const c of GOOD) {
  test(`canonicalJson encodes ${c.name}`, () => {
    assert.equal(canonicalJson(c.value), c.json);
  });
}

test('canonicalJson output parses back to the same data', () => {
  for (const c of GOOD) {
    if (c.name.includes('undefined') || c.name.includes('zero') || c.name.includes('prototype')) continue;
    assert.deepEqual(JSON.parse(canonicalJson(c.value)), c.value, c.name);
  }
});

for (const c of BAD) {
  test(`canonicalJson refuses ${c.name}`, () => {
    assert.throws(() => canonicalJson(c.value), TypeError);
  });
}

const BASE = {
  protocol: '/plexus/phonebook/1',
  audience: '12D3KooWExampleAudience',
  method: 'name_register',
  params: { name: 'bob', email: 'b@x', n: 1 } as unknown,
  ts: 1_700_000_000_000,
  nonce: '00112233445566778899aabbccddeeff',
};

test('rpcSigningBytes is deterministic and independent of param key order', () => {
  const a = rpcSigningBytes(BASE);
  const b = rpcSigningBytes({ ...BASE, params: { n: 1, email: 'b@x', name: 'bob' } });
  assert.deepEqual(a, b);
  assert.equal(
    Buffer.from(a).toString('utf8'),
    'plexus-rpc/1\n/plexus/phonebook/1\n12D3KooWExampleAudience\nname_register\n1700000000000\n00112233445566778899aabbccddeeff\n{"email":"b@x","n":1,"name":"bob"}',
  );
});

const CHANGES: { field: string; change: Partial<typeof BASE> }[] = [
  { field: 'protocol', change: { protocol: '/plexus/phonebook/2' } },
  { field: 'audience', change: { audience: '12D3KooWOtherNode' } },
  { field: 'method', change: { method: 'record_register' } },
  { field: 'ts', change: { ts: BASE.ts + 1 } },
  { field: 'nonce', change: { nonce: '00112233445566778899aabbccddeefe' } },
  { field: 'params value', change: { params: { name: 'bob', email: 'b@y', n: 1 } } },
  { field: 'params number', change: { params: { name: 'bob', email: 'b@x', n: 2 } } },
  { field: 'params type', change: { params: { name: 'bob', email: 'b@x', n: '1' } } },
  { field: 'params extra key', change: { params: { name: 'bob', email: 'b@x', n: 1, x: null } } },
  { field: 'params missing key', change: { params: { name: 'bob', email: 'b@x' } } },
];

for (const c of CHANGES) {
  test(`rpcSigningBytes changes when ${c.field} changes`, () => {
    assert.notDeepEqual(rpcSigningBytes({ ...BASE, ...c.change }), rpcSigningBytes(BASE));
  });
}
