import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@plexus/core';
import { codeOf } from '@plexus/core/testing';
import { corefileFromConfig, masterEndpoint, renderCorefile, storeEndpoint, type CorefileInput } from '../src/corefile.js';

/** The generated Corefile must be exactly what COMPAT.md §1 shows operators. */

const BASE: CorefileInput = {
  zones: ['gateway.tf'],
  listen: [{ host: '0.0.0.0', port: 53 }],
  ttl: 300,
  keyPrefix: '',
  keySuffix: '',
  forwarders: [],
  storeAddress: '10.1.0.1:6378',
  storePassword: 'SECRET',
};

const COMPAT_EXAMPLE = `gateway.tf {
    redis {
        address 10.1.0.1:6378
        password SECRET
        connect_timeout 100
        read_timeout 100
        ttl 300
    }
}
. {
    forward . 9.9.9.9
}
`;

const CASES: [string, Partial<CorefileInput>, string][] = [
  ['the COMPAT.md example, byte for byte', { forwarders: ['9.9.9.9:53'] }, COMPAT_EXAMPLE],
  [
    'no forwarders: no `.` block; no password: no password line',
    { storePassword: undefined, ttl: 60 },
    'gateway.tf {\n    redis {\n        address 10.1.0.1:6378\n        connect_timeout 100\n        read_timeout 100\n        ttl 60\n    }\n}\n',
  ],
  [
    'prefix and suffix when set; several zones in one block',
    { zones: ['gateway.tf', 'example.org'], keyPrefix: 'dns:', keySuffix: ':z', storePassword: undefined },
    'gateway.tf example.org {\n    redis {\n        address 10.1.0.1:6378\n        connect_timeout 100\n        read_timeout 100\n        ttl 300\n        prefix dns:\n        suffix :z\n    }\n}\n',
  ],
  [
    'a port other than 53 and specific addresses: zone:port and bind',
    { listen: [{ host: '10.0.0.2', port: 5353 }], forwarders: ['1.1.1.1:53', '[2606:4700::1111]:53', '8.8.8.8:5300'], storePassword: undefined },
    'gateway.tf:5353 {\n    bind 10.0.0.2\n    redis {\n        address 10.1.0.1:6378\n        connect_timeout 100\n        read_timeout 100\n        ttl 300\n    }\n}\n.:5353 {\n    bind 10.0.0.2\n    forward . 1.1.1.1 2606:4700::1111 8.8.8.8:5300\n}\n',
  ],
  [
    'listeners on two ports: one server block per port, each with its own bind',
    { listen: [{ host: '10.0.0.2', port: 53 }, { host: '127.0.0.1', port: 5353 }, { host: '::1', port: 5353 }], forwarders: ['9.9.9.9:53'], storePassword: undefined },
    [
      'gateway.tf {\n    bind 10.0.0.2\n    redis {\n        address 10.1.0.1:6378\n        connect_timeout 100\n        read_timeout 100\n        ttl 300\n    }\n}',
      '. {\n    bind 10.0.0.2\n    forward . 9.9.9.9\n}',
      'gateway.tf:5353 {\n    bind 127.0.0.1 ::1\n    redis {\n        address 10.1.0.1:6378\n        connect_timeout 100\n        read_timeout 100\n        ttl 300\n    }\n}',
      '.:5353 {\n    bind 127.0.0.1 ::1\n    forward . 9.9.9.9\n}\n',
    ].join('\n'),
  ],
  [
    'RFC 4592 rules on the plexus side are noted: CoreDNS keeps its own',
    { wildcards: 'rfc4592', storePassword: undefined },
    '# plugins.dns.wildcards is rfc4592: CoreDNS answers names without a field of their own by its own rules (wildcards: coredns)\ngateway.tf {\n    redis {\n        address 10.1.0.1:6378\n        connect_timeout 100\n        read_timeout 100\n        ttl 300\n    }\n}\n',
  ],
  [
    'a password with spaces and quotes is quoted',
    { storePassword: 'a b"c' },
    'gateway.tf {\n    redis {\n        address 10.1.0.1:6378\n        password "a b\\"c"\n        connect_timeout 100\n        read_timeout 100\n        ttl 300\n    }\n}\n',
  ],
];

for (const [what, change, want] of CASES) {
  test(`renderCorefile: ${what}`, () => {
    assert.equal(renderCorefile({ ...BASE, ...change }), want);
  });
}

test('storeEndpoint: managed and external store blocks', () => {
  const table: [Record<string, unknown>, ReturnType<typeof storeEndpoint>][] = [
    [{ mode: 'managed', bind: '10.1.0.1', port: 6378, password: 'SECRET' }, { address: '10.1.0.1:6378', password: 'SECRET', passwordFile: undefined }],
    [{ mode: 'managed', bind: '0.0.0.0', port: 6390 }, { address: '127.0.0.1:6390', password: undefined, passwordFile: undefined }],
    [{ mode: 'managed', bind: 'localhost', port: 6379, passwordFile: 'pw' }, { address: '127.0.0.1:6379', password: undefined, passwordFile: 'pw' }],
    // A DNS node's own replica: CoreDNS on the same machine reads it like the plugin does.
    [{ mode: 'replica', bind: '127.0.0.1', port: 6379, replicaOf: { host: '10.1.0.1', port: 6378, passwordFile: '/etc/x' } }, { address: '127.0.0.1:6379', password: undefined, passwordFile: undefined }],
    [{ mode: 'external', url: 'redis://:s%20p@10.1.0.1:6378' }, { address: '10.1.0.1:6378', password: 's p', passwordFile: undefined }],
    [{ mode: 'external', url: 'redis://[fd00::1]' }, { address: '[fd00::1]:6379', password: undefined, passwordFile: undefined }],
  ];
  for (const [block, want] of table) assert.deepEqual(storeEndpoint(block), want, JSON.stringify(block));
});

test('corefileFromConfig: a whole role config with a passwordFile', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-dns-corefile-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await writeFile(join(dir, 'redis.pw'), 'from-file\n');
  const yaml = [
    'node: { name: dns1 }',
    'plugins:',
    '  store: { mode: managed, bind: 10.1.0.1, port: 6378, passwordFile: redis.pw }',
    '  dns: { zones: [gateway.tf], forwarders: [9.9.9.9] }',
  ].join('\n');
  const cfg = await parseConfig(yaml, join(dir, 'dns.yaml'), dir);
  assert.equal(await corefileFromConfig(cfg), COMPAT_EXAMPLE.replace('SECRET', 'from-file'));
  assert.match(await corefileFromConfig(cfg, { address: '192.0.2.1:6379' }), /address 192\.0\.2\.1:6379\n {8}password from-file\n/);
});

test("corefileFromConfig: --address on a DNS node's replica takes the master's password; --password-file and the env win", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-dns-corefile-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  await writeFile(join(dir, 'master.pw'), 'master-secret\n');
  await writeFile(join(dir, 'other.pw'), 'from-flag\n');
  const yaml = [
    'node: { name: dns1 }',
    'plugins:',
    '  store: { mode: replica, port: 6379, replicaOf: { host: 10.1.0.1, port: 6378, passwordFile: master.pw } }',
    '  dns: { zones: [gateway.tf] }',
  ].join('\n');
  const cfg = await parseConfig(yaml, join(dir, 'dns.yaml'), dir);
  const pw = (text: string): string | undefined => /password (\S+)/.exec(text)?.[1];
  assert.equal(pw(await corefileFromConfig(cfg)), undefined, 'the local replica has no password');
  const toMaster = await corefileFromConfig(cfg, { address: '10.1.0.1:6378' });
  assert.match(toMaster, /address 10\.1\.0\.1:6378\n {8}password master-secret\n/);
  assert.equal(pw(await corefileFromConfig(cfg, { address: '10.1.0.1:6378', password: 'from-env' })), 'from-env');
  assert.equal(pw(await corefileFromConfig(cfg, { address: '10.1.0.1:6378', password: 'from-env', passwordFile: join(dir, 'other.pw') })), 'from-flag');
  assert.equal(await codeOf(corefileFromConfig(cfg, { passwordFile: join(dir, 'missing.pw') })), 'ERR_CONFIG_INVALID');
  assert.deepEqual(masterEndpoint({ mode: 'replica', replicaOf: { host: 'fd00::1', port: 6378, password: 'p' } }), { address: '[fd00::1]:6378', password: 'p', passwordFile: undefined });
  assert.equal(masterEndpoint({ mode: 'managed' }), undefined);
});

test('corefileFromConfig: a managed store without a configured password uses the one it generated', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'plexus-dns-corefile-'));
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 }));
  const yaml = ['node: { name: dns1, dataDir: data }', 'plugins:', '  store: { port: 6390 }', '  dns: { zones: [gateway.tf] }'].join('\n');
  const cfg = await parseConfig(yaml, join(dir, 'dns.yaml'), dir);
  assert.doesNotMatch(await corefileFromConfig(cfg), /password/, 'not started yet: nothing generated');
  await mkdir(join(dir, 'data', 'store'), { recursive: true });
  await writeFile(join(dir, 'data', 'store', 'redis.password'), 'generated-secret\n');
  assert.match(await corefileFromConfig(cfg), /address 127\.0\.0\.1:6390\n {8}password generated-secret\n/);
});
