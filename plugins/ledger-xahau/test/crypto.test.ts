import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { codeOf } from '@plexus/core/testing';
import { generateSeed } from 'ripple-keypairs';
import { acquireSuccessTx, blake2b, decodeMemos, eciesDecrypt, eciesEncrypt, hostKeyFromSecret, isSecp256k1PublicKey, openAnonymous, sealAnonymous } from '../src/index.js';
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

interface EciesVectors {
  recipientPrivateKey: string;
  recipientPublicKey: string;
  iv: string;
  message: string;
  vectors: { ephemeralPrivateKey: string; leadingZero: boolean; sealed: string }[];
}

test('secp256k1 ECIES (eccrypto as Evernode uses it): the recorded vectors, byte for byte, both ways; a zero-led shared secret too', () => {
  const v = fixture<EciesVectors>('eccrypto-vectors.json');
  assert.ok(v.vectors.some((x) => x.leadingZero), 'the fixture covers a shared X with a leading zero byte');
  for (const x of v.vectors) {
    const sealed = eciesEncrypt(v.recipientPublicKey, Buffer.from(v.message), { ephemeralPrivateKey: Buffer.from(x.ephemeralPrivateKey, 'hex'), iv: Buffer.from(v.iv, 'hex') });
    assert.equal(sealed.toString('hex'), x.sealed, `vector ${x.ephemeralPrivateKey.slice(0, 8)}`);
    assert.equal(eciesDecrypt(v.recipientPrivateKey, Buffer.from(x.sealed, 'hex')).toString(), v.message);
    assert.equal(eciesDecrypt(`00${v.recipientPrivateKey}`, Buffer.from(x.sealed, 'hex')).toString(), v.message, "XRPL's 33-byte private key form");
  }
  const tampered = Buffer.from(v.vectors[0]!.sealed, 'hex');
  tampered[tampered.length - 1]! ^= 1;
  assert.throws(() => eciesDecrypt(v.recipientPrivateKey, tampered), /bad MAC/);
  assert.throws(() => eciesDecrypt(v.recipientPrivateKey, Buffer.alloc(40)), /too short/);
});

test('a tenant with a secp256k1 MessageKey gets an ECIES-sealed acquire success it opens with its account key', () => {
  const tenant = hostKeyFromSecret(generateSeed({ entropy: new Uint8Array(16).fill(5), algorithm: 'ecdsa-secp256k1' }));
  assert.ok(isSecp256k1PublicKey(tenant.publicKey));
  const tx = acquireSuccessTx({ host: 'rHost', networkId: 21337 }, tenant.address, 'AA'.repeat(32), { name: 'x' }, tenant.publicKey);
  const raw = Buffer.from(decodeMemos(tx.Memos)[0]!.data, 'base64');
  assert.equal(raw[0], 1);
  assert.deepEqual(JSON.parse(eciesDecrypt(tenant.privateKey, raw.subarray(1)).toString()), { name: 'x' });
});
