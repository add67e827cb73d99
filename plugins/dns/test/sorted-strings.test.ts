import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SortedStrings } from '../src/zone.js';

/** The blocked sorted set behind the `coredns` suffix test, against a plain sorted array. */
test('SortedStrings agrees with a sorted array through inserts, deletes and block splits', () => {
  let seed = 42;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const word = (): string => Array.from({ length: 1 + rand(6) }, () => 'abcdef.'[rand(7)]).join('');
  const start = [...new Set(Array.from({ length: 3000 }, word))];
  const fresh = SortedStrings.of([...start]);
  const ref = new Set(start);
  for (let i = 0; i < 20_000; i++) {
    const w = word();
    if (rand(3) === 0) {
      assert.equal(fresh.delete(w), ref.delete(w), `delete ${w}`);
    } else {
      fresh.insert(w);
      ref.add(w);
    }
    if (i % 500 === 0) {
      const p = word().slice(0, 1 + rand(3));
      assert.equal(fresh.hasPrefix(p), [...ref].some((r) => r.startsWith(p)), `prefix ${p}`);
    }
  }
  assert.equal(fresh.size, ref.size);
  for (let i = 0; i < 5000; i++) {
    const w = `${word()}${word()}`;
    fresh.insert(w);
    ref.add(w);
  }
  for (const p of ['', 'a', 'ab', 'f.', 'zz', '.', 'fed']) assert.equal(fresh.hasPrefix(p), [...ref].some((r) => r.startsWith(p)), `prefix '${p}'`);
  assert.equal(fresh.size, ref.size);
});
