import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookup } from '../src/lookup.js';
import { ZoneState } from '../src/zone-state.js';

/** The in-memory side of the cache: what a batch of reads does to the view. */

const A = (ip: string): string => JSON.stringify({ a: [{ ip }] });
type Read = Record<string, string> | undefined;
const reads = (entries: [string, Read][]): Map<string, Read> => new Map(entries);

function setup(rules: 'coredns' | 'rfc4592' = 'coredns'): { state: ZoneState; warnings: string[]; ip: (name: string) => string } {
  const warnings: string[] = [];
  const state = new ZoneState({ prefix: 'dns:', suffix: '', zones: ['gateway.tf'] }, 300, (k, f, i) => warnings.push(`${k} ${f} ${i}`), rules);
  const ip = (name: string): string => {
    const r = lookup(state.view, name, 1, 0);
    return r === undefined ? 'outside' : r.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : r.answers.map((a) => (a as { data: string }).data).join(',');
  };
  return { state, warnings, ip };
}

test('reads are merged; the same read again changes nothing', () => {
  const { state, ip } = setup();
  assert.equal(state.apply(reads([['dns:gateway.tf.', { alice: A('10.0.0.1'), bob: A('10.0.0.2') }]])), true);
  assert.deepEqual([ip('alice.gateway.tf'), ip('bob.gateway.tf')], ['10.0.0.1', '10.0.0.2']);
  const before = state.view;
  assert.equal(state.apply(reads([['dns:gateway.tf.', { alice: A('10.0.0.1'), bob: A('10.0.0.2') }]])), false);
  assert.equal(state.view, before, 'the snapshot is kept when nothing changed');
});

test('a field gone from the hash, then the whole key gone', () => {
  const { state, ip } = setup();
  state.apply(reads([['dns:gateway.tf.', { alice: A('10.0.0.1'), bob: A('10.0.0.2') }], ['dns:sub.gateway.tf.', { x: A('10.1.0.1') }]]));
  state.apply(reads([['dns:gateway.tf.', { alice: A('10.0.0.1') }]]));
  assert.equal(ip('bob.gateway.tf'), 'NXDOMAIN');
  assert.equal(ip('x.sub.gateway.tf'), '10.1.0.1');
  state.apply(reads([['dns:sub.gateway.tf.', undefined]]));
  assert.equal(ip('x.sub.gateway.tf'), 'NXDOMAIN');
  assert.deepEqual(state.counts().keys, 1);
});

test('rfc4592: keys of other zones or without the prefix are not ours; case variants of one zone merge', () => {
  const { state, ip } = setup('rfc4592');
  state.apply(reads([['dns:Gateway.TF.', { Alice: A('10.0.0.1') }], ['dns:gateway.tf.', { bob: A('10.0.0.2') }]]));
  assert.deepEqual([ip('alice.gateway.tf'), ip('bob.gateway.tf')], ['10.0.0.1', '10.0.0.2']);
  assert.equal(ip('example.org'), 'outside');
});

test('each problem with a stored value is reported once', () => {
  const { state, warnings } = setup();
  state.apply(reads([['dns:gateway.tf.', { bad: 'nope' }]]));
  state.apply(reads([['dns:gateway.tf.', { bad: 'nope', other: A('10.0.0.1') }]]));
  state.apply(reads([['dns:gateway.tf.', { bad: 'still nope' }]]));
  assert.deepEqual(warnings, ['dns:gateway.tf. bad value is not JSON']);
});

test('while loading, the suffix index is built once at the end and answers as if kept field by field', () => {
  const names = Array.from({ length: 600 }, (_, i) => `h${i}.apps`);
  const { state: loaded, ip } = setup();
  const { state: kept } = setup();
  loaded.setLoading(true);
  const fields = (from: number, to: number): Map<string, string | undefined> => new Map(names.slice(from, to).map((n, i) => [n, A(`10.0.${(from + i) >> 8}.${(from + i) & 255}`)]));
  for (const s of [loaded, kept]) {
    s.applyFields('dns:gateway.tf.', fields(0, 400));
    s.applyFields('dns:gateway.tf.', fields(400, 600));
    // Deletions too: `h1.apps` .. `h99.apps` gone.
    s.applyFields('dns:gateway.tf.', new Map(names.slice(1, 100).map((n) => [n, undefined])));
  }
  const zone = (s: ZoneState) => s.view.zones.get('gateway.tf')!;
  // Read in the middle of loading, the index is made from the fields held then.
  assert.equal(zone(loaded).reversedFields.size, 501);
  loaded.applyFields('dns:gateway.tf.', new Map([['*.late', A('10.9.9.9')]]));
  kept.applyFields('dns:gateway.tf.', new Map([['*.late', A('10.9.9.9')]]));
  loaded.setLoading(false);
  assert.equal(zone(loaded).reversedFields.size, zone(kept).reversedFields.size);
  for (const suffix of ['', 'sppa.', 'sppa.0', 'sppa.1h', 'etal.*', 'nope']) {
    assert.equal(zone(loaded).reversedFields.hasPrefix(suffix), zone(kept).reversedFields.hasPrefix(suffix), `suffix index: '${suffix}'`);
  }
  // Answers that depend on the index (CoreDNS's "does some field end with X" for wildcards) agree.
  for (const n of ['h0.apps.gateway.tf', 'h5.apps.gateway.tf', 'h599.apps.gateway.tf', 'x.late.gateway.tf', 'apps.gateway.tf', 'zz.gateway.tf']) {
    assert.equal(ip(n), (() => {
      const r = lookup(kept.view, n, 1, 0);
      return r === undefined ? 'outside' : r.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : r.answers.map((a) => (a as { data: string }).data).join(',');
    })(), n);
  }
  // After loading, changes update the index in place again.
  loaded.applyFields('dns:gateway.tf.', new Map([['h1.apps', A('10.1.1.1')]]));
  assert.equal(zone(loaded).reversedFields.size, 503);
});

test('records read while loading are checked for warnings after it, as they hold then', () => {
  const { state, warnings } = setup();
  state.setLoading(true);
  state.applyFields('dns:gateway.tf.', new Map([['bad', 'nope'], ['fixed', 'nope'], ['gone', 'nope'], ['good', A('10.0.0.1')]]));
  state.applyFields('dns:gateway.tf.', new Map([['fixed', A('10.0.0.2')], ['gone', undefined]]));
  state.setLoading(false);
  // Nothing parsed for warnings yet: the first answers do not wait on it.
  assert.deepEqual(warnings, []);
  assert.equal(state.checkDeferred(1), 4);
  assert.equal(state.checkDeferred(100), 0);
  assert.deepEqual(warnings, ['dns:gateway.tf. bad value is not JSON']);
  // Once loaded, a bad record is reported when it is applied.
  state.applyFields('dns:gateway.tf.', new Map([['late', 'nope']]));
  assert.deepEqual(warnings, ['dns:gateway.tf. bad value is not JSON', 'dns:gateway.tf. late value is not JSON']);
});
