import { test } from 'node:test';
import assert from 'node:assert/strict';
import nacl from 'tweetnacl';
import { ed25519PublicToX25519, ed25519SeedToX25519, openSealed, sealTo } from '../src/crypto/box.js';
import { generateKeyPair, keyPairFromSeed, toHex } from '../src/crypto/ed25519.js';
import { PlexusError } from '../src/errors.js';

test("Ed25519 → X25519 matches libsodium's crypto_sign_ed25519_{pk,sk}_to_curve25519 test vector", () => {
  const kp = keyPairFromSeed(Buffer.from('421151a459faeade3d247115f94aedae42318124095afabe4d1451a559faedee', 'hex'));
  assert.equal(toHex(kp.publicKey), 'b5076a8474a832daee4dd5b4040983b6623b5f344aca57d4d6ee4baf3f259e6e');
  assert.equal(toHex(ed25519PublicToX25519(kp.publicKey)), 'f1814f0e8ff1043d8a44d25babff3cedcae6c22c3edaa48f857ae70de2baae50');
  assert.equal(toHex(ed25519SeedToX25519(kp.seed)), '8052030376d47112be7f73ed7a019293dd12ad910b654455798b4667d73de166');
});

test('the public and secret conversions agree for random keys (X25519 base point of the secret = converted public)', () => {
  for (let i = 0; i < 50; i++) {
    const kp = generateKeyPair();
    assert.equal(toHex(nacl.scalarMult.base(ed25519SeedToX25519(kp.seed))), toHex(ed25519PublicToX25519(kp.publicKey)));
  }
});

test('sealed to a key: that key opens it; another key, or one altered byte, is ERR_DECRYPT', () => {
  const tenant = generateKeyPair();
  const other = generateKeyPair();
  const msg = new TextEncoder().encode(JSON.stringify({ name: 'sashi1', userPort: 26201 }));
  const sealed = sealTo(toHex(tenant.publicKey), msg);
  assert.deepEqual(openSealed(sealed, tenant), msg);
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (err) {
      return (err as PlexusError).code;
    }
  };
  assert.equal(code(() => openSealed(sealed, other)), 'ERR_DECRYPT');
  const box = Buffer.from(sealed.box, 'base64');
  box[box.length - 1]! ^= 1;
  assert.equal(code(() => openSealed({ ...sealed, box: box.toString('base64') }, tenant)), 'ERR_DECRYPT');
  assert.notEqual(sealTo(toHex(tenant.publicKey), msg).ephemeralPublicKey, sealed.ephemeralPublicKey, 'a fresh ephemeral key each time');
});
