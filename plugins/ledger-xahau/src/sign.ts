import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PlexusError } from '@plexus/core';
// xrpl.js's own codec and key packages (installed with `xrpl`): xrpl 5's Wallet.sign cannot take
// custom definitions, and Xahau's Hook/URIToken fields are not in XRPL's.
import { XrplDefinitions, decode, encode, encodeForSigning } from 'ripple-binary-codec';
import { deriveAddress, deriveKeypair, sign } from 'ripple-keypairs';

/** Xahau's binary definitions (Xahau/xahau.js, packages/ripple-binary-codec/src/enums/definitions.json). */
export function xahauDefinitions(): XrplDefinitions {
  const path = new URL('../../definitions/xahau-definitions.json', import.meta.url);
  return new XrplDefinitions(JSON.parse(readFileSync(path, 'utf8')));
}

/** Definitions as a server reports them (`server_definitions`), falling back to the bundled file. */
export function definitionsFrom(serverDefinitions: unknown): XrplDefinitions {
  try {
    if (serverDefinitions && typeof serverDefinitions === 'object' && 'FIELDS' in serverDefinitions) return new XrplDefinitions(serverDefinitions as ConstructorParameters<typeof XrplDefinitions>[0]);
  } catch {
    /* fall through to the bundled definitions */
  }
  return xahauDefinitions();
}

export interface HostKey {
  address: string;
  /** Hex, `ED`-prefixed for Ed25519. */
  publicKey: string;
  privateKey: string;
  /** The Ed25519 seed behind the key (what opens memos sealed to the account's MessageKey); undefined for secp256k1. */
  messageSeed?: Uint8Array;
}

/** What opens memos sealed to this key: the Ed25519 seed, or the secp256k1 private key (ECIES). */
export function messageKeyOptions(key: HostKey): { messageSeed?: Uint8Array; messageSecp256k1?: string } {
  return key.messageSeed !== undefined ? { messageSeed: key.messageSeed } : { messageSecp256k1: key.privateKey };
}

/** The key of a family seed (`s...`), Ed25519 or secp256k1. */
export function hostKeyFromSecret(secret: string): HostKey {
  let kp: { publicKey: string; privateKey: string };
  try {
    kp = deriveKeypair(secret.trim());
  } catch (err) {
    throw new PlexusError('ERR_CONFIG_INVALID', `the Xahau secret is not a valid family seed: ${(err as Error).message}`);
  }
  const key: HostKey = { address: deriveAddress(kp.publicKey), publicKey: kp.publicKey, privateKey: kp.privateKey };
  if (/^ED/i.test(kp.privateKey)) key.messageSeed = new Uint8Array(Buffer.from(kp.privateKey.slice(2), 'hex'));
  return key;
}

/** SHA-512Half of `TXN\0` + the signed blob: the transaction hash. */
export function txHash(blobHex: string): string {
  return createHash('sha512').update(Buffer.concat([Buffer.from('54584E00', 'hex'), Buffer.from(blobHex, 'hex')])).digest().subarray(0, 32).toString('hex').toUpperCase();
}

export interface SignedTx {
  blob: string;
  hash: string;
  tx: Record<string, unknown>;
}

/** Signs a complete transaction (Sequence, Fee, LastLedgerSequence already set). */
export function signTx(tx: Record<string, unknown>, key: HostKey, definitions: XrplDefinitions): SignedTx {
  const toSign = { ...tx, SigningPubKey: key.publicKey };
  delete (toSign as Record<string, unknown>).TxnSignature;
  const signature = sign(encodeForSigning(toSign, definitions), key.privateKey);
  const signed = { ...toSign, TxnSignature: signature };
  const blob = encode(signed, definitions);
  return { blob, hash: txHash(blob), tx: signed };
}

/** The unsigned encoding (for the `fee` command's tx_blob). */
export function encodeUnsigned(tx: Record<string, unknown>, definitions: XrplDefinitions): string {
  return encode({ ...tx, SigningPubKey: '' }, definitions);
}

export function decodeBlob(blob: string, definitions: XrplDefinitions): Record<string, unknown> {
  return decode(blob, definitions) as Record<string, unknown>;
}
