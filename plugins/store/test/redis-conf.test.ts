import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { quoteConfValue, renderRedisConf, type RedisConfInput } from '../src/redis-conf.js';

const base: RedisConfInput = { bind: '127.0.0.1', port: 6390, dir: '/var/lib/plexus/store/redis', fsync: 'always' };

/** Config lines without comments, as redis reads them. */
function directives(text: string): string[] {
  return text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
}

describe('renderRedisConf', () => {
  const cases: { name: string; input: RedisConfInput; has: string[]; hasNot: RegExp[] }[] = [
    {
      name: 'no password: no requirepass line at all',
      input: base,
      has: ['bind 127.0.0.1', 'port 6390', 'appendonly yes', 'appendfsync always', 'save ""', 'daemonize no', 'protected-mode yes'],
      hasNot: [/requirepass/, /maxmemory/, /^replicaof/, /masterauth/, /^replica-/],
    },
    {
      name: 'every managed store fires keyspace events and keeps a replication backlog',
      input: base,
      has: ['notify-keyspace-events "KA"', 'repl-timeout 20', 'repl-ping-replica-period 5', 'repl-backlog-size 16mb', 'repl-diskless-sync-delay 1'],
      hasNot: [],
    },
    {
      name: 'a replica names its master, is read-only and serves stale data',
      input: { ...base, replicaOf: { host: '10.1.0.1', port: 6378, password: 'm4ster' } },
      has: [
        'replicaof 10.1.0.1 6378',
        'masterauth "m4ster"',
        'replica-read-only yes',
        'replica-serve-stale-data yes',
        'repl-diskless-load swapdb',
        'notify-keyspace-events "KA"',
      ],
      hasNot: [/requirepass/],
    },
    {
      name: 'a replica with its own password and an escaped masterauth',
      input: { ...base, password: 'own', replicaOf: { host: 'explorer.internal', port: 6379, password: 'a "b"\\' } },
      has: ['requirepass "own"', 'replicaof explorer.internal 6379', 'masterauth "a \\"b\\"\\\\"'],
      hasNot: [],
    },
    {
      name: 'a replica of a master without password has no masterauth',
      input: { ...base, replicaOf: { host: 'fd00::1', port: 6379 } },
      has: ['replicaof fd00::1 6379', 'replica-read-only yes'],
      hasNot: [/masterauth/],
    },
    {
      name: 'password is written quoted',
      input: { ...base, password: 's3cret' },
      has: ['requirepass "s3cret"'],
      hasNot: [],
    },
    {
      name: 'password with quotes, backslash, space and non-ASCII is escaped',
      input: { ...base, password: 'a"b\\c d\u00e9' },
      has: ['requirepass "a\\"b\\\\c d\\xc3\\xa9"'],
      hasNot: [],
    },
    {
      name: 'fsync everysec',
      input: { ...base, fsync: 'everysec' },
      has: ['appendfsync everysec'],
      hasNot: [/appendfsync always/],
    },
    {
      name: 'maxmemory never evicts',
      input: { ...base, maxmemory: '256mb' },
      has: ['maxmemory 256mb', 'maxmemory-policy noeviction'],
      hasNot: [],
    },
    {
      name: 'localhost is pinned to 127.0.0.1; IPv6 bind kept',
      input: { ...base, bind: 'localhost' },
      has: ['bind 127.0.0.1'],
      hasNot: [/localhost/],
    },
    {
      name: 'files live in the data dir',
      input: { ...base, dir: '/data dir/redis' },
      has: [
        'dir "/data dir/redis"',
        'pidfile "/data dir/redis/redis.pid"',
        'logfile "/data dir/redis/redis.log"',
        'appenddirname "appendonlydir"',
      ],
      hasNot: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const lines = directives(renderRedisConf(c.input));
      for (const line of c.has) assert.ok(lines.includes(line), `missing line: ${line}\n${lines.join('\n')}`);
      for (const re of c.hasNot) assert.ok(!lines.some((l) => re.test(l)), `unexpected ${re}`);
    });
  }

  test('a password never appears when none is set, whatever else is configured', () => {
    const text = renderRedisConf({ ...base, fsync: 'everysec', maxmemory: '1gb', bind: '::1', replicaOf: { host: '10.1.0.1', port: 6379 } });
    assert.doesNotMatch(text, /requirepass|masterauth|pass/i);
  });
});

describe('quoteConfValue', () => {
  const cases: [string, string][] = [
    ['plain', '"plain"'],
    ['', '""'],
    ['with space', '"with space"'],
    ['quote"', '"quote\\""'],
    ['back\\slash', '"back\\\\slash"'],
    ['new\nline', '"new\\x0aline"'],
  ];
  for (const [input, expected] of cases) {
    test(JSON.stringify(input), () => assert.equal(quoteConfValue(input), expected));
  }
});
