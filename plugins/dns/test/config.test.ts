import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHostPort } from '@plexus/core';
import { DnsConfigSchema } from '../src/config.js';

/** The `dns` block: defaults, normalisation, and errors that name the key. */

test('defaults', () => {
  assert.deepEqual(DnsConfigSchema.parse({ zones: ['gateway.tf'] }), {
    listen: ['0.0.0.0:53'],
    zones: ['gateway.tf'],
    ttl: 300,
    keyPrefix: '',
    keySuffix: '',
    forwarders: [],
    forwardTimeoutMs: 2000,
    maxUdpPayload: 1232,
    udpReceiveBufferBytes: 0,
    resyncIntervalMs: 300000,
    countCheckIntervalMs: 30000,
    wildcards: 'coredns',
    answerCacheSize: 20000,
    syncWaitMs: 10000,
    changeStream: 'gateway:zone-changes',
    workers: 1,
    tcp: { maxConnections: 512, maxPerIp: 32, queryTimeoutMs: 5000, idleTimeoutMs: 10000 },
  });
  assert.equal(DnsConfigSchema.parse({ zones: ['gateway.tf'], wildcards: 'rfc4592' }).wildcards, 'rfc4592');
});

test('dns.tcp is strict and bounded', () => {
  assert.equal(DnsConfigSchema.parse({ zones: ['gateway.tf'], tcp: { maxPerIp: 4 } }).tcp.maxPerIp, 4);
  for (const tcp of [{ maxPerIp: 0 }, { queryTimeoutMs: 10 }, { maxConection: 3 }]) {
    assert.equal(DnsConfigSchema.safeParse({ zones: ['gateway.tf'], tcp }).success, false, JSON.stringify(tcp));
  }
});

test('zones are lowercased without the trailing dot; bare forwarder IPs get port 53', () => {
  const c = DnsConfigSchema.parse({ zones: ['Gateway.TF.'], forwarders: ['9.9.9.9', '2620:fe::fe', '1.1.1.1:5353'] });
  assert.deepEqual(c.zones, ['gateway.tf']);
  assert.deepEqual(c.forwarders, ['9.9.9.9:53', '[2620:fe::fe]:53', '1.1.1.1:5353']);
});

const BAD: [string, Record<string, unknown>, string][] = [
  ['unknown key', { zones: ['a.tf'], lisen: [] }, ''],
  ['no zones', { zones: [] }, 'zones'],
  ['zones missing', {}, 'zones'],
  ['a zone that is not a name', { zones: ['a..tf'] }, 'zones.0'],
  ['listen without port', { zones: ['a.tf'], listen: ['0.0.0.0'] }, 'listen.0'],
  ['listen on a host name', { zones: ['a.tf'], listen: ['localhost:53'] }, 'listen.0'],
  ['forwarder host name', { zones: ['a.tf'], forwarders: ['dns.google'] }, 'forwarders.0'],
  ['forwarder port 0', { zones: ['a.tf'], forwarders: ['1.1.1.1:0'] }, 'forwarders.0'],
  ['ttl 0', { zones: ['a.tf'], ttl: 0 }, 'ttl'],
  ['payload below 512', { zones: ['a.tf'], maxUdpPayload: 500 }, 'maxUdpPayload'],
  ['negative receive buffer', { zones: ['a.tf'], udpReceiveBufferBytes: -1 }, 'udpReceiveBufferBytes'],
  ['unknown wildcard rules', { zones: ['a.tf'], wildcards: 'rfc1034' }, 'wildcards'],
  ['no workers', { zones: ['a.tf'], workers: 0 }, 'workers'],
  ['fractional workers', { zones: ['a.tf'], workers: 1.5 }, 'workers'],
];

for (const [what, raw, path] of BAD) {
  test(`rejected: ${what}`, () => {
    const r = DnsConfigSchema.safeParse(raw);
    assert.equal(r.success, false);
    assert.ok(r.error!.issues.some((i) => i.path.join('.') === path), JSON.stringify(r.error!.issues));
  });
}

test('parseHostPort', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:53', true), { host: '127.0.0.1', port: 53 });
  assert.deepEqual(parseHostPort('[::1]:5353', true), { host: '::1', port: 5353 });
  assert.equal(parseHostPort('[1.2.3.4]:53', true), undefined);
  assert.equal(parseHostPort('127.0.0.1:0', true), undefined);
  assert.deepEqual(parseHostPort('127.0.0.1:0', true, true), { host: '127.0.0.1', port: 0 });
  assert.equal(parseHostPort('1.2.3.4:70000', true), undefined);
});
