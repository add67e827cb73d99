import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PrivateKey } from '@libp2p/interface';
import { PlexusError } from './errors.js';
import { type Ed25519KeyPair, generateKeyPair, keyPairFromSeed, toHex } from './crypto/ed25519.js';

/**
 * A node's (or a CLI user's) Ed25519 identity. On disk it is a small JSON file, mode 0600:
 * `{"type":"ed25519","seed":"<64 hex>","publicKey":"<64 hex>"}`. The same key signs RPC requests
 * and registry payloads and, for nodes, is the libp2p key the PeerId is derived from.
 */
export interface Identity {
  readonly keyPair: Ed25519KeyPair;
  readonly publicKeyHex: string;
  readonly path: string;
  /** True when this call created the key file. */
  readonly created: boolean;
}

export const NODE_KEY_FILE = 'identity.key';

interface KeyFile {
  type: 'ed25519';
  seed: string;
  publicKey: string;
}

export async function loadOrCreateIdentity(path: string): Promise<Identity> {
  const existing = await loadIdentity(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing !== undefined) return existing;
  const keyPair = generateKeyPair();
  const file: KeyFile = { type: 'ed25519', seed: toHex(keyPair.seed), publicKey: toHex(keyPair.publicKey) };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // Written in full to a temp file, then hard-linked into place: link() fails with EEXIST
  // atomically, so a concurrent process never sees a half-written key and never overwrites one.
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(file)}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadIdentity(path);
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return { keyPair, publicKeyHex: file.publicKey, path, created: true };
}

export async function loadIdentity(path: string): Promise<Identity> {
  const text = await readFile(path, 'utf8');
  const info = await stat(path);
  if ((info.mode & 0o077) !== 0) {
    throw new PlexusError('ERR_KEY_FILE', `${path} is readable by others (mode ${(info.mode & 0o777).toString(8)}); run: chmod 600 ${path}`);
  }
  let parsed: Partial<KeyFile>;
  try {
    parsed = JSON.parse(text) as Partial<KeyFile>;
  } catch {
    throw new PlexusError('ERR_KEY_FILE', `${path} is not a plexus key file (expected JSON)`);
  }
  if (parsed === null || typeof parsed !== 'object' || parsed.type !== 'ed25519' || typeof parsed.seed !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.seed)) {
    throw new PlexusError('ERR_KEY_FILE', `${path}: expected {"type":"ed25519","seed":"<64 hex>"}`);
  }
  const keyPair = keyPairFromSeed(Buffer.from(parsed.seed, 'hex'));
  const publicKeyHex = toHex(keyPair.publicKey);
  if (parsed.publicKey !== undefined && parsed.publicKey !== publicKeyHex) {
    throw new PlexusError('ERR_KEY_FILE', `${path}: publicKey does not match seed`);
  }
  return { keyPair, publicKeyHex, path, created: false };
}

export async function libp2pPrivateKey(identity: Identity): Promise<PrivateKey> {
  return generateKeyPairFromSeed('Ed25519', identity.keyPair.seed);
}

export async function peerIdOf(identity: Identity): Promise<string> {
  return peerIdFromPrivateKey(await libp2pPrivateKey(identity)).toString();
}
