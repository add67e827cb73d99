import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isHostOrIp, isLoopback, REPLICA_OF_DEFAULTS, STORE_DEFAULTS, storeConfigSchema } from '../src/config.js';

/** Issues of a rejected block as `path: message`, for readable assertion failures. */
function issues(raw: unknown): { path: (string | number)[]; message: string }[] {
  const result = storeConfigSchema.safeParse(raw);
  assert.equal(result.success, false, `expected ${JSON.stringify(raw)} to be rejected`);
  // An unknown key is reported on its parent with the key in `keys`; name the full path of each.
  return (result.error?.issues ?? []).flatMap((i) => {
    const path = i.path as (string | number)[];
    const keys = i.code === 'unrecognized_keys' ? i.keys : [undefined];
    return keys.map((k) => ({ path: k === undefined ? path : [...path, k], message: i.message }));
  });
}

describe('store config schema', () => {
  test('defaults are applied to an empty block', () => {
    assert.deepEqual(storeConfigSchema.parse({}), { ...STORE_DEFAULTS });
  });

  test('replicaOf gets its default port', () => {
    const config = storeConfigSchema.parse({ mode: 'replica', replicaOf: { host: '10.1.0.1' } });
    assert.deepEqual(config.replicaOf, { host: '10.1.0.1', port: REPLICA_OF_DEFAULTS.port });
    assert.equal(REPLICA_OF_DEFAULTS.port, 6379);
  });

  const accepted: { name: string; raw: Record<string, unknown> }[] = [
    { name: 'loopback bind without password', raw: { bind: '127.0.0.2' } },
    { name: 'IPv6 loopback without password', raw: { bind: '::1' } },
    { name: 'localhost without password', raw: { bind: 'localhost' } },
    { name: 'public bind with password', raw: { bind: '0.0.0.0', password: 'x' } },
    { name: 'public bind with passwordFile', raw: { bind: '10.1.0.1', passwordFile: 'store.pass' } },
    { name: 'external with url', raw: { mode: 'external', url: 'redis://:pw@db.example:6380/0' } },
    { name: 'external with url and passwordFile', raw: { mode: 'external', url: 'redis://db:6380', passwordFile: 'p' } },
    { name: 'fsync everysec and maxmemory', raw: { fsync: 'everysec', maxmemory: '256mb' } },
    { name: 'replica of an IP', raw: { mode: 'replica', replicaOf: { host: '10.1.0.1', port: 6378, password: 'pw' } } },
    { name: 'replica of a host name, passwordFile', raw: { mode: 'replica', replicaOf: { host: 'explorer.internal', passwordFile: 'master.pass' } } },
    { name: 'replica of an IPv6 master', raw: { mode: 'replica', replicaOf: { host: 'fd00::1' } } },
    { name: 'replica on a public bind with its own password', raw: { mode: 'replica', bind: '10.1.0.2', passwordFile: 'p', replicaOf: { host: '10.1.0.1' } } },
    { name: 'replica of a master on the same host, another port', raw: { mode: 'replica', port: 6380, replicaOf: { host: '127.0.0.1', port: 6379 } } },
  ];
  for (const c of accepted) {
    test(`accepts ${c.name}`, () => assert.equal(storeConfigSchema.safeParse(c.raw).success, true));
  }

  const rejected: { name: string; raw: Record<string, unknown>; path: (string | number)[]; message?: RegExp }[] = [
    { name: 'unknown key', raw: { prot: 6379 }, path: ['prot'] },
    { name: 'non-loopback bind without password', raw: { bind: '0.0.0.0' }, path: ['password'], message: /password or passwordFile/ },
    { name: 'public IPv6 bind without password', raw: { bind: '::' }, path: ['password'] },
    { name: 'external without url', raw: { mode: 'external' }, path: ['url'] },
    { name: 'url in managed mode', raw: { url: 'redis://localhost:6379' }, path: ['url'] },
    { name: 'url that is not redis://', raw: { mode: 'external', url: 'http://db:6379' }, path: ['url'] },
    { name: 'password and passwordFile together', raw: { password: 'a', passwordFile: 'b' }, path: ['passwordFile'] },
    { name: 'password twice in external mode', raw: { mode: 'external', url: 'redis://:a@db', password: 'b' }, path: ['password'] },
    { name: 'port out of range', raw: { port: 70000 }, path: ['port'] },
    { name: 'port not an integer', raw: { port: 63.5 }, path: ['port'] },
    { name: 'bind that is a hostname', raw: { bind: 'db.example' }, path: ['bind'] },
    { name: 'unknown fsync mode', raw: { fsync: 'no' }, path: ['fsync'] },
    { name: 'unknown mode', raw: { mode: 'cluster' }, path: ['mode'] },
    { name: 'malformed maxmemory', raw: { maxmemory: 'lots' }, path: ['maxmemory'] },
    { name: 'replica without replicaOf', raw: { mode: 'replica' }, path: ['replicaOf'], message: /needs replicaOf/ },
    { name: 'replicaOf in managed mode', raw: { replicaOf: { host: '10.1.0.1' } }, path: ['replicaOf'], message: /only allowed with mode "replica"/ },
    { name: 'replicaOf in external mode', raw: { mode: 'external', url: 'redis://db', replicaOf: { host: '10.1.0.1' } }, path: ['replicaOf'] },
    { name: 'unknown key inside replicaOf', raw: { mode: 'replica', replicaOf: { host: '10.1.0.1', pasword: 'x' } }, path: ['replicaOf', 'pasword'] },
    { name: 'replicaOf without host', raw: { mode: 'replica', replicaOf: { port: 6379 } }, path: ['replicaOf', 'host'] },
    { name: 'replicaOf host that is not a host', raw: { mode: 'replica', replicaOf: { host: 'two words' } }, path: ['replicaOf', 'host'] },
    { name: 'replicaOf port out of range', raw: { mode: 'replica', replicaOf: { host: '10.1.0.1', port: 0 } }, path: ['replicaOf', 'port'] },
    {
      name: 'replicaOf password and passwordFile together',
      raw: { mode: 'replica', replicaOf: { host: '10.1.0.1', password: 'a', passwordFile: 'b' } },
      path: ['replicaOf', 'passwordFile'],
    },
    { name: 'replica on a public bind without password', raw: { mode: 'replica', bind: '0.0.0.0', replicaOf: { host: '10.1.0.1' } }, path: ['password'] },
    { name: 'replica of itself', raw: { mode: 'replica', replicaOf: { host: '127.0.0.1' } }, path: ['replicaOf'], message: /itself/ },
    { name: 'replica of itself through localhost', raw: { mode: 'replica', bind: 'localhost', replicaOf: { host: '127.0.0.1' } }, path: ['replicaOf'] },
  ];
  for (const c of rejected) {
    test(`rejects ${c.name} at ${c.path.join('.')}`, () => {
      const found = issues(c.raw);
      const atPath = found.filter((i) => JSON.stringify(i.path) === JSON.stringify(c.path));
      assert.ok(atPath.length > 0, `no issue at ${JSON.stringify(c.path)}: ${JSON.stringify(found)}`);
      if (c.message) assert.ok(atPath.some((i) => c.message?.test(i.message)), JSON.stringify(atPath));
    });
  }
});

describe('isLoopback', () => {
  const cases: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['localhost', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
  ];
  for (const [address, expected] of cases) {
    test(`${address} -> ${expected}`, () => assert.equal(isLoopback(address), expected));
  }
});

describe('isHostOrIp', () => {
  const cases: [string, boolean][] = [
    ['10.1.0.1', true],
    ['fd00::1', true],
    ['explorer', true],
    ['explorer.gateway.tf', true],
    ['explorer.gateway.tf.', true],
    ['xn--bcher-kva.example', true],
    ['-leading.example', false],
    ['two words', false],
    ['host:6379', false],
    ['', false],
    ['a'.repeat(64) + '.example', false],
  ];
  for (const [value, expected] of cases) {
    test(`${JSON.stringify(value)} -> ${expected}`, () => assert.equal(isHostOrIp(value), expected));
  }
});
