import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { codeOf } from '@plexus/core/testing';
import { blake2b, openAnonymous, sealAnonymous } from '../src/index.js';
import { fixture } from './fixtures.js';

test('BLAKE2b-512 matches node:crypto for 0..3 blocks; the 24-byte digest is its own function (sealed-box nonces)', () => {
  for (const n of [0, 1, 64, 127, 128, 129, 256, 300]) {
    const m = new Uint8Array(n).map((_, i) => (i * 7) & 255);
    assert.equal(Buffer.from(blake2b(m, 64)).toString('hex'), createHash('blake2b512').update(m).digest('hex'), `length ${n}`);
  }
  // Reference values from @noble/hashes blake2b(dkLen: 24), checked when this test was written.
  assert.equal(Buffer.from(blake2b(Buffer.from('abc'), 24)).toString('hex'), '56a17e38cc371a46b12c32f18e0c61de2a84e9c2555b114e');
  const m64 = new Uint8Array(64).map((_, i) => (i * 7) & 255);
  assert.equal(Buffer.from(blake2b(m64, 24)).toString('hex'), '1db13201459f09f495eb65b3b6be45f1e5b457ecfdda8dd3');
  assert.notEqual(Buffer.from(blake2b(m64, 24)).toString('hex'), createHash('blake2b512').update(m64).digest('hex').slice(0, 48));
});

test('opens a box libsodium sealed (crypto_box_seal), and what libsodium opened from us round-trips', () => {
  const v = fixture<{ seed: string; ed25519PublicKey: string; message: string; sealed: string; plexusSealed: { message: string; sealed: string } }>('libsodium-sealed-box.json');
  const seed = Buffer.from(v.seed, 'hex');
  assert.equal(Buffer.from(openAnonymous(Buffer.from(v.sealed, 'hex'), seed)).toString(), v.message);
  assert.equal(Buffer.from(openAnonymous(Buffer.from(v.plexusSealed.sealed, 'hex'), seed)).toString(), v.plexusSealed.message);
  const ours = sealAnonymous(`ED${v.ed25519PublicKey.toUpperCase()}`, Buffer.from('round trip'));
  assert.equal(ours.length, 48 + 'round trip'.length);
  assert.equal(Buffer.from(openAnonymous(ours, seed)).toString(), 'round trip');
});

test('a sealed box for another key or altered on the way is ERR_DECRYPT', async () => {
  const v = fixture<{ seed: string; sealed: string }>('libsodium-sealed-box.json');
  const other = Buffer.alloc(32, 9);
  assert.equal(await codeOf(async () => openAnonymous(Buffer.from(v.sealed, 'hex'), other)), 'ERR_DECRYPT');
  const altered = Buffer.from(v.sealed, 'hex');
  altered[60]! ^= 1;
  assert.equal(await codeOf(async () => openAnonymous(altered, Buffer.from(v.seed, 'hex'))), 'ERR_DECRYPT');
  assert.equal(await codeOf(async () => openAnonymous(new Uint8Array(10), Buffer.from(v.seed, 'hex'))), 'ERR_DECRYPT');
});
