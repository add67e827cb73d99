import { test } from 'node:test';
import assert from 'node:assert/strict';
import { orderPlugins, type OrderNode, type OrderResult } from '../src/config/order.js';

/** `key:provides>requires?uses`, lists comma-separated: `pb:phonebook>store`, `wg:>?store`. */
function n(spec: string): OrderNode {
  const [key, rest = ''] = spec.split(':') as [string, string?];
  const [provides = '', after = ''] = rest.split('>');
  const [requires = '', uses] = after.split('?');
  const list = (s: string): string[] => (s === '' ? [] : s.split(','));
  return uses === undefined ? { key, provides: list(provides), requires: list(requires) } : { key, provides: list(provides), requires: list(requires), uses: list(uses) };
}

interface Case {
  name: string;
  nodes: string[];
  want: OrderResult;
}

const CASES: Case[] = [
  { name: 'no plugins', nodes: [], want: { ok: true, order: [] } },
  { name: 'one plugin', nodes: ['store:store'], want: { ok: true, order: ['store'] } },
  {
    name: 'independent plugins keep config order',
    nodes: ['c:', 'a:', 'b:'],
    want: { ok: true, order: ['c', 'a', 'b'] },
  },
  {
    name: 'a consumer listed first moves after its provider',
    nodes: ['phonebook:phonebook>store', 'store:store'],
    want: { ok: true, order: ['store', 'phonebook'] },
  },
  {
    name: 'a chain given backwards is reversed',
    nodes: ['gateway:gateway>phonebook,store', 'phonebook:phonebook>store', 'store:store'],
    want: { ok: true, order: ['store', 'phonebook', 'gateway'] },
  },
  {
    name: 'unrelated plugins stay where they were relative to each other',
    nodes: ['x:', 'phonebook:phonebook>store', 'y:', 'store:store', 'z:'],
    want: { ok: true, order: ['x', 'store', 'phonebook', 'y', 'z'] },
  },
  {
    name: 'diamond: the shared provider starts once, first',
    nodes: ['top:>l,r', 'left:l>base', 'right:r>base', 'base:base'],
    want: { ok: true, order: ['base', 'left', 'right', 'top'] },
  },
  {
    name: 'a plugin requiring what it provides itself is not a cycle',
    nodes: ['self:cap>cap'],
    want: { ok: true, order: ['self'] },
  },
  {
    name: 'a plugin with several capabilities serves several consumers',
    nodes: ['u1:>c1', 'u2:>c2', 'multi:c1,c2'],
    want: { ok: true, order: ['multi', 'u1', 'u2'] },
  },
  {
    name: 'every missing capability is reported',
    nodes: ['phonebook:phonebook>store', 'gw:>store,dns'],
    want: {
      ok: false,
      missing: [
        { key: 'phonebook', capability: 'store' },
        { key: 'gw', capability: 'store' },
        { key: 'gw', capability: 'dns' },
      ],
      duplicates: [],
    },
  },
  {
    name: 'a capability offered twice',
    nodes: ['s1:store', 's2:store', 's3:store', 'pb:>store'],
    want: { ok: false, missing: [], duplicates: [{ capability: 'store', keys: ['s1', 's2', 's3'] }] },
  },
  {
    name: 'a two-plugin cycle',
    nodes: ['a:ca>cb', 'b:cb>ca'],
    want: { ok: false, missing: [], cycle: ['a', 'b', 'a'], duplicates: [] },
  },
  {
    name: 'a three-plugin cycle behind an innocent plugin',
    nodes: ['ok:', 'a:ca>cc', 'b:cb>ca', 'c:cc>cb'],
    want: { ok: false, missing: [], cycle: ['a', 'c', 'b', 'a'], duplicates: [] },
  },
  {
    name: 'an optional capability orders after its provider when one is configured',
    nodes: ['wg:>?store', 'store:store'],
    want: { ok: true, order: ['store', 'wg'] },
  },
  {
    name: 'an optional capability nobody provides is no error',
    nodes: ['wg:>?store', 'dns:dns'],
    want: { ok: true, order: ['wg', 'dns'] },
  },
  {
    name: 'missing, duplicate and cycle together are all reported',
    nodes: ['a:ca>cb', 'b:cb>ca', 'd1:dup', 'd2:dup', 'm:>nope'],
    want: {
      ok: false,
      missing: [{ key: 'm', capability: 'nope' }],
      cycle: ['a', 'b', 'a'],
      duplicates: [{ capability: 'dup', keys: ['d1', 'd2'] }],
    },
  },
];

for (const c of CASES) {
  test(`orderPlugins: ${c.name}`, () => {
    assert.deepEqual(orderPlugins(c.nodes.map(n)), c.want);
  });
}

test('orderPlugins: every ok order puts providers before consumers and keeps every key once', () => {
  for (const c of CASES) {
    const nodes = c.nodes.map(n);
    const result = orderPlugins(nodes);
    if (!result.ok) continue;
    assert.deepEqual([...result.order].sort(), nodes.map((x) => x.key).sort(), c.name);
    const position = new Map(result.order.map((k, i) => [k, i]));
    for (const consumer of nodes) {
      for (const cap of consumer.requires) {
        const provider = nodes.find((p) => p.provides.includes(cap))!;
        if (provider.key === consumer.key) continue;
        assert.ok(position.get(provider.key)! < position.get(consumer.key)!, `${c.name}: ${provider.key} before ${consumer.key}`);
      }
    }
  }
});
