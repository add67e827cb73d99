import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import nacl from 'tweetnacl';
import {
  generateKeyPair,
  isPublicKeyHex,
  isSignatureHex,
  keyPairFromSeed,
  signDetached,
  toHex,
  verifyDetached,
  verifyHex,
} from '../src/crypto/ed25519.js';
import { hex } from './helpers.js';

/** RFC 8032 section 7.1, TEST 1 and TEST 2. */
const RFC8032 = [
  {
    name: 'TEST 1 (empty message)',
    secret: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    public: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    message: '',
    signature:
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    name: 'TEST 2 (one byte)',
    secret: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
    public: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
    message: '72',
    signature:
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
  },
];

for (const v of RFC8032) {
  test(`RFC 8032 ${v.name}: public key, signature and verification`, () => {
    const key = keyPairFromSeed(hex(v.secret));
    assert.equal(toHex(key.publicKey), v.public);
    const sig = signDetached(hex(v.message), key);
    assert.equal(toHex(sig), v.signature);
    assert.equal(verifyHex(hex(v.message), v.signature, v.public), true);
    // tweetnacl agrees with the vector too, so the comparison below is against a correct reference.
    const ref = nacl.sign.keyPair.fromSeed(hex(v.secret));
    assert.equal(toHex(nacl.sign.detached(hex(v.message), ref.secretKey)), v.signature);
  });
}

test('signDetached is byte-identical to tweetnacl for random seeds and messages', () => {
  const lengths = [0, 1, 31, 32, 33, 64, 100, 1000, 65_537];
  for (let i = 0; i < 12; i++) {
    const seed = randomBytes(32);
    const ours = keyPairFromSeed(seed);
    const ref = nacl.sign.keyPair.fromSeed(seed);
    assert.equal(toHex(ours.publicKey), toHex(ref.publicKey), `public key for seed ${seed.toString('hex')}`);
    assert.deepEqual(ours.seed, Uint8Array.from(seed));
    for (const len of lengths) {
      const message = randomBytes(len);
      const sig = signDetached(message, ours);
      assert.equal(sig.length, 64);
      assert.equal(toHex(sig), toHex(nacl.sign.detached(message, ref.secretKey)), `seed ${seed.toString('hex')} len ${len}`);
      // Each verifies the other's signatures.
      assert.equal(nacl.sign.detached.verify(message, sig, ref.publicKey), true);
      assert.equal(verifyDetached(message, nacl.sign.detached(message, ref.secretKey), ours.publicKey), true);
    }
  }
});

test('keyPairFromSeed refuses a seed that is not 32 bytes', () => {
  for (const len of [0, 31, 33, 64]) assert.throws(() => keyPairFromSeed(new Uint8Array(len)), RangeError);
});

test('generateKeyPair gives distinct working keys', () => {
  const a = generateKeyPair();
  const b = generateKeyPair();
  assert.notEqual(toHex(a.seed), toHex(b.seed));
  const msg = new TextEncoder().encode('hello');
  assert.equal(verifyDetached(msg, signDetached(msg, a), a.publicKey), true);
  assert.equal(verifyDetached(msg, signDetached(msg, a), b.publicKey), false);
});

const KEY = keyPairFromSeed(hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
const OTHER = keyPairFromSeed(hex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'));
const MSG = new TextEncoder().encode('12bobb@xab');
const SIG = signDetached(MSG, KEY);
const SIG_HEX = toHex(SIG);
const PUB_HEX = toHex(KEY.publicKey);

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[index] = out[index]! ^ 0x01;
  return out;
}

test('verifyDetached accepts the genuine signature', () => {
  assert.equal(verifyDetached(MSG, SIG, KEY.publicKey), true);
  assert.equal(verifyHex(MSG, SIG_HEX, PUB_HEX), true);
});

const REJECT_BYTES: { name: string; message: Uint8Array; signature: Uint8Array; publicKey: Uint8Array }[] = [
  { name: 'tampered message (first byte)', message: flip(MSG, 0), signature: SIG, publicKey: KEY.publicKey },
  { name: 'tampered message (last byte)', message: flip(MSG, MSG.length - 1), signature: SIG, publicKey: KEY.publicKey },
  { name: 'message with an extra byte', message: Uint8Array.from([...MSG, 0]), signature: SIG, publicKey: KEY.publicKey },
  { name: 'empty message', message: new Uint8Array(0), signature: SIG, publicKey: KEY.publicKey },
  { name: 'wrong key', message: MSG, signature: SIG, publicKey: OTHER.publicKey },
  { name: 'tampered R half of the signature', message: MSG, signature: flip(SIG, 3), publicKey: KEY.publicKey },
  { name: 'tampered S half of the signature', message: MSG, signature: flip(SIG, 40), publicKey: KEY.publicKey },
  { name: 'signature 63 bytes', message: MSG, signature: SIG.subarray(0, 63), publicKey: KEY.publicKey },
  { name: 'signature 65 bytes', message: MSG, signature: Uint8Array.from([...SIG, 0]), publicKey: KEY.publicKey },
  { name: 'empty signature', message: MSG, signature: new Uint8Array(0), publicKey: KEY.publicKey },
  { name: 'public key 31 bytes', message: MSG, signature: SIG, publicKey: KEY.publicKey.subarray(0, 31) },
  { name: 'public key 33 bytes', message: MSG, signature: SIG, publicKey: Uint8Array.from([...KEY.publicKey, 0]) },
  { name: 'public key that is not a curve point', message: MSG, signature: SIG, publicKey: new Uint8Array(32).fill(0xff) },
  { name: 'all-zero signature and key', message: MSG, signature: new Uint8Array(64), publicKey: new Uint8Array(32) },
];

for (const c of REJECT_BYTES) {
  test(`verifyDetached returns false without throwing: ${c.name}`, () => {
    assert.equal(verifyDetached(c.message, c.signature, c.publicKey), false);
  });
}

const REJECT_HEX: { name: string; signature: string; publicKey: string }[] = [
  { name: 'wrong key', signature: SIG_HEX, publicKey: toHex(OTHER.publicKey) },
  { name: 'upper-case signature hex', signature: SIG_HEX.toUpperCase(), publicKey: PUB_HEX },
  { name: 'upper-case key hex', signature: SIG_HEX, publicKey: PUB_HEX.toUpperCase() },
  { name: 'non-hex character in signature', signature: `${SIG_HEX.slice(0, 127)}g`, publicKey: PUB_HEX },
  { name: 'non-hex character in key', signature: SIG_HEX, publicKey: `z${PUB_HEX.slice(1)}` },
  { name: 'signature one hex char short', signature: SIG_HEX.slice(0, 127), publicKey: PUB_HEX },
  { name: 'signature one hex char long', signature: `${SIG_HEX}0`, publicKey: PUB_HEX },
  { name: 'key one byte short', signature: SIG_HEX, publicKey: PUB_HEX.slice(0, 62) },
  { name: 'key with 0x prefix', signature: SIG_HEX, publicKey: `0x${PUB_HEX.slice(2)}` },
  { name: 'empty strings', signature: '', publicKey: '' },
  { name: 'whitespace around the signature', signature: ` ${SIG_HEX.slice(1)}`, publicKey: PUB_HEX },
  { name: 'signature and key swapped', signature: PUB_HEX, publicKey: SIG_HEX },
];

for (const c of REJECT_HEX) {
  test(`verifyHex returns false without throwing: ${c.name}`, () => {
    assert.equal(verifyHex(MSG, c.signature, c.publicKey), false);
  });
}

test('verifyHex tolerates non-string input (it comes straight from JSON)', () => {
  for (const bad of [undefined, null, 42, {}, [SIG_HEX]]) {
    assert.equal(verifyHex(MSG, bad as unknown as string, PUB_HEX), false);
    assert.equal(verifyHex(MSG, SIG_HEX, bad as unknown as string), false);
  }
});

test('isPublicKeyHex / isSignatureHex accept only lowercase hex of the exact length', () => {
  assert.equal(isPublicKeyHex(PUB_HEX), true);
  assert.equal(isSignatureHex(SIG_HEX), true);
  for (const bad of [PUB_HEX.toUpperCase(), PUB_HEX.slice(1), `${PUB_HEX}0`, SIG_HEX, 1, null]) assert.equal(isPublicKeyHex(bad), false);
  for (const bad of [SIG_HEX.toUpperCase(), SIG_HEX.slice(1), `${SIG_HEX}0`, PUB_HEX, 1, null]) assert.equal(isSignatureHex(bad), false);
});
