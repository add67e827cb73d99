import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSeed } from 'ripple-keypairs';
import type { StoreCapability } from '@plexus/core';
import { codeOf, fakeContext } from '@plexus/core/testing';
import { DEFAULTS, LedgerXahauConfigSchema, hostKeyFromSecret, plugin } from '../src/index.js';

const HOST = hostKeyFromSecret(generateSeed({ entropy: new Uint8Array(16).fill(31), algorithm: 'ed25519' }));
const ISSUER = hostKeyFromSecret(generateSeed({ entropy: new Uint8Array(16).fill(33), algorithm: 'ed25519' })).address;
const SLOTS = { count: 2, leaseAmount: '1.5', tosHash: 'ab'.repeat(32) };
const REGISTRATION = { registryAccount: ISSUER, fee: '5', countryCode: 'SE', cpuMicroSec: 1, ramMb: 1, diskMb: 1, totalInstances: 2, cpuModel: 'x', cpuCount: 1, cpuMHz: 1, email: 'a@b.c' };
const BASE = { servers: ['wss://xahau.network'], hostAccount: HOST.address, heartbeatAccount: 'rHktfGUbjqzU4GsYCMc1pDjdHXb5CJamto' };

test('config: defaults, and what is refused (naming the key)', () => {
  const ok = LedgerXahauConfigSchema.parse(BASE);
  assert.equal(ok.networkId, 21337);
  assert.equal(ok.momentSeconds, DEFAULTS.momentSeconds);
  assert.equal(ok.heartbeat, true);
  const bad: [Record<string, unknown>, string][] = [
    [{ ...BASE, servers: [] }, 'servers'],
    [{ ...BASE, servers: ['https://xahau.network'] }, 'servers.0'],
    [{ ...BASE, hostAccount: 'not-an-address' }, 'hostAccount'],
    [{ ...BASE, leaseAmount: '-1' }, 'leaseAmount'],
    [{ ...BASE, momentSeconds: 0 }, 'momentSeconds'],
    [{ ...BASE, lisen: 1 }, ''],
    [{ servers: BASE.servers, hostAccount: BASE.hostAccount }, 'heartbeatAccount'],
    [{ ...BASE, slots: SLOTS }, 'evrIssuer'],
    [{ ...BASE, evrIssuer: ISSUER, slots: { ...SLOTS, tosHash: 'abc' } }, 'slots.tosHash'],
    [{ ...BASE, evrIssuer: ISSUER, slots: { ...SLOTS, count: -1 } }, 'slots.count'],
    [{ ...BASE, evrIssuer: ISSUER, slots: { ...SLOTS, outboundIpv6: '::1' } }, 'slots.outboundIpv6'],
    [{ ...BASE, evrIssuer: ISSUER, slots: { ...SLOTS, extra: 1 } }, 'slots'],
    [{ ...BASE, evrIssuer: ISSUER, registration: { ...REGISTRATION, countryCode: 'se' } }, 'registration.countryCode'],
    [{ ...BASE, evrIssuer: ISSUER, registration: { ...REGISTRATION, description: 'a;b' } }, 'registration.description'],
    [{ ...BASE, governorAccount: 'nope' }, 'governorAccount'],
  ];
  const full = LedgerXahauConfigSchema.parse({ ...BASE, evrIssuer: ISSUER, slots: SLOTS, registration: REGISTRATION, governorAccount: ISSUER });
  assert.equal(full.slots?.checkEveryMs, 30_000);
  assert.equal(full.registration?.offerWaitLedgers, 60);
  for (const [raw, path] of bad) {
    const r = LedgerXahauConfigSchema.safeParse(raw);
    assert.equal(r.success, false, JSON.stringify(raw));
    assert.ok(r.error!.issues.some((i) => i.path.join('.') === path), `${path}: ${JSON.stringify(r.error!.issues.map((i) => i.path.join('.')))}`);
  }
});

test('start refuses a missing secret, or one that derives another account (ERR_XAHAU_SECRET); stop after a failed start is safe', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'plexus-xahau-cfg-'));
  const store = { redis: {} } as unknown as StoreCapability;
  const saved = process.env.PLEXUS_XAHAU_SECRET;
  delete process.env.PLEXUS_XAHAU_SECRET;
  try {
    const none = plugin.create(fakeContext(plugin, BASE, { configDir: dir, capabilities: { store } }));
    assert.equal(await codeOf(none.start()), 'ERR_XAHAU_SECRET');
    await none.stop();
    writeFileSync(join(dir, 'other.secret'), generateSeed({ entropy: new Uint8Array(16).fill(32), algorithm: 'ed25519' }));
    const other = plugin.create(fakeContext(plugin, { ...BASE, secretFile: 'other.secret' }, { configDir: dir, capabilities: { store } }));
    assert.equal(await codeOf(other.start()), 'ERR_XAHAU_SECRET');
    await other.stop();
    writeFileSync(join(dir, 'bad.secret'), 'snot-a-seed');
    const bad = plugin.create(fakeContext(plugin, { ...BASE, secretFile: 'bad.secret' }, { configDir: dir, capabilities: { store } }));
    assert.equal(await codeOf(bad.start()), 'ERR_CONFIG_INVALID');
  } finally {
    if (saved !== undefined) process.env.PLEXUS_XAHAU_SECRET = saved;
  }
});
