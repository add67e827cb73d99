import { createCipheriv, createDecipheriv, createECDH, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Evernode's message encryption for secp256k1 keys: eccrypto's ECIES (evernode-js-client
 * src/eccrypto.js + src/encryption-helper.js), which tenants with a secp256k1 MessageKey (the
 * default key type of XRPL wallets) expect. Layout of the sealed bytes:
 *
 *     ephemeral public key (65, uncompressed) | IV (16) | MAC (32) | AES-256-CBC ciphertext
 *
 * with S = X coordinate of ECDH(ephemeral, recipient) as a big-endian integer WITHOUT leading zero
 * bytes (eccrypto takes bn.js's `toArray()`), SHA-512(S) = encryption key (first 32) | MAC key
 * (last 32), MAC = HMAC-SHA256(MAC key, IV | ephemeral public key | ciphertext).
 */

const EPHEMERAL = 65;
const IV = 16;
const MAC = 32;

/** True for an XRPL secp256k1 public key (33 bytes compressed, 02/03) or an uncompressed one. */
export function isSecp256k1PublicKey(hex: string): boolean {
  return /^0[23][0-9A-F]{64}$/i.test(hex) || /^04[0-9A-F]{128}$/i.test(hex);
}

function keys(sharedX: Buffer): { enc: Buffer; mac: Buffer } {
  let i = 0;
  while (i < sharedX.length - 1 && sharedX[i] === 0) i++;
  const h = createHash('sha512').update(sharedX.subarray(i)).digest();
  return { enc: h.subarray(0, 32), mac: h.subarray(32) };
}

/** Seals `message` to a secp256k1 public key (hex). `fixed` is for test vectors only. */
export function eciesEncrypt(publicKeyHex: string, message: Uint8Array, fixed?: { ephemeralPrivateKey: Buffer; iv: Buffer }): Buffer {
  const ecdh = createECDH('secp256k1');
  if (fixed) ecdh.setPrivateKey(fixed.ephemeralPrivateKey);
  else ecdh.generateKeys();
  const ephemeral = ecdh.getPublicKey(undefined, 'uncompressed');
  const { enc, mac } = keys(ecdh.computeSecret(Buffer.from(publicKeyHex, 'hex')));
  const iv = fixed?.iv ?? randomBytes(IV);
  const cipher = createCipheriv('aes-256-cbc', enc, iv);
  const ciphertext = Buffer.concat([cipher.update(message), cipher.final()]);
  const tag = createHmac('sha256', mac).update(Buffer.concat([iv, ephemeral, ciphertext])).digest();
  return Buffer.concat([ephemeral, iv, tag, ciphertext]);
}

/**
 * Opens what `eciesEncrypt` (or eccrypto) sealed. `privateKeyHex`: 32 bytes, or XRPL's 33 with a
 * leading 00. @throws Error on a bad MAC, a bad point or bad padding.
 */
export function eciesDecrypt(privateKeyHex: string, sealed: Uint8Array): Buffer {
  const buf = Buffer.from(sealed);
  if (buf.length < EPHEMERAL + IV + MAC + 16) throw new Error('sealed message too short');
  const ephemeral = buf.subarray(0, EPHEMERAL);
  const iv = buf.subarray(EPHEMERAL, EPHEMERAL + IV);
  const tag = buf.subarray(EPHEMERAL + IV, EPHEMERAL + IV + MAC);
  const ciphertext = buf.subarray(EPHEMERAL + IV + MAC);
  const ecdh = createECDH('secp256k1');
  ecdh.setPrivateKey(Buffer.from(privateKeyHex.length === 66 ? privateKeyHex.slice(2) : privateKeyHex, 'hex'));
  const { enc, mac } = keys(ecdh.computeSecret(ephemeral));
  const expected = createHmac('sha256', mac).update(Buffer.concat([iv, ephemeral, ciphertext])).digest();
  if (!timingSafeEqual(expected, tag)) throw new Error('bad MAC');
  const decipher = createDecipheriv('aes-256-cbc', enc, iv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}
