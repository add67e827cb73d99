import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@plexus/core';
import { corefileFromConfig, renderCorefile, storeEndpoint, type CorefileInput } from '../src/corefile.js';

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
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'redis.pw'), 'from-file\n');
  const yaml = [
    'node: { name: dns1 }',
    'plugins:',
    '  store: { mode: managed, bind: 10.1.0.1, port: 6378, passwordFile: redis.pw }',
    '  dns: { zones: [gateway.tf], forwarders: [9.9.9.9] }',
  ].join('\n');
  const cfg = await parseConfig(yaml, join(dir, 'dns.yaml'), dir);
  assert.equal(await corefileFromConfig(cfg), COMPAT_EXAMPLE.replace('SECRET', 'from-file'));
  assert.match(await corefileFromConfig(cfg, '192.0.2.1:6379'), /address 192\.0\.2\.1:6379/);
});
