import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { libp2pPrivateKey, loadIdentity, loadOrCreateIdentity, peerIdOf } from '../src/identity.js';
import { keyPairFromSeed, signDetached, toHex, verifyDetached } from '../src/crypto/ed25519.js';
import { rejectsWithCode, tempDir } from './helpers.js';

test('a new key file is created 0600 in a new 0700 dir and reloads to the same identity', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'deep', 'state');
  const path = join(dir, 'identity.key');

  const first = await loadOrCreateIdentity(path);
  assert.equal(first.created, true);
  assert.equal(first.path, path);
  assert.equal((await stat(path)).mode & 0o777, 0o600);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  assert.match(first.publicKeyHex, /^[0-9a-f]{64}$/);

  const onDisk = JSON.parse(await readFile(path, 'utf8')) as { type: string; seed: string; publicKey: string };
  assert.equal(onDisk.type, 'ed25519');
  assert.equal(onDisk.publicKey, first.publicKeyHex);
  assert.equal(toHex(keyPairFromSeed(Buffer.from(onDisk.seed, 'hex')).publicKey), first.publicKeyHex);

  const again = await loadOrCreateIdentity(path);
  assert.equal(again.created, false);
  assert.equal(again.publicKeyHex, first.publicKeyHex);
  assert.equal(await peerIdOf(again), await peerIdOf(first));
  assert.equal(toHex(again.keyPair.seed), toHex(first.keyPair.seed));
  assert.equal((await loadIdentity(path)).publicKeyHex, first.publicKeyHex);
});

test('the PeerId is derived from the same Ed25519 key that signs', async (t) => {
  const path = join(await tempDir(t), 'k');
  const id = await loadOrCreateIdentity(path);
  const priv = await libp2pPrivateKey(id);
  assert.equal(toHex(priv.publicKey.raw), id.publicKeyHex);
  assert.equal(peerIdFromPrivateKey(priv).toString(), await peerIdOf(id));
  const msg = new TextEncoder().encode('who am i');
  // libp2p's signature with this key verifies under our helper, and vice versa.
  assert.equal(verifyDetached(msg, await priv.sign(msg), id.keyPair.publicKey), true);
  assert.equal(await priv.publicKey.verify(msg, signDetached(msg, id.keyPair)), true);
});

test('two fresh identities differ', async (t) => {
  const dir = await tempDir(t);
  const a = await loadOrCreateIdentity(join(dir, 'a.key'));
  const b = await loadOrCreateIdentity(join(dir, 'b.key'));
  assert.notEqual(a.publicKeyHex, b.publicKeyHex);
  assert.notEqual(await peerIdOf(a), await peerIdOf(b));
});

const SEED = '42'.repeat(32);
const PUB = toHex(keyPairFromSeed(Buffer.from(SEED, 'hex')).publicKey);

const REFUSED: { name: string; content: string; mode: number }[] = [
  { name: 'a valid key readable by others (0644)', content: JSON.stringify({ type: 'ed25519', seed: SEED, publicKey: PUB }), mode: 0o644 },
  { name: 'a valid key readable by the group (0640)', content: JSON.stringify({ type: 'ed25519', seed: SEED, publicKey: PUB }), mode: 0o640 },
  { name: 'garbage', content: 'this is not a key\n', mode: 0o600 },
  { name: 'an empty file', content: '', mode: 0o600 },
  { name: 'JSON of the wrong type', content: JSON.stringify({ type: 'rsa', seed: SEED }), mode: 0o600 },
  { name: 'a seed that is not 64 hex chars', content: JSON.stringify({ type: 'ed25519', seed: SEED.slice(2) }), mode: 0o600 },
  { name: 'an upper-case seed', content: JSON.stringify({ type: 'ed25519', seed: SEED.toUpperCase().replace(/4/g, 'A') }), mode: 0o600 },
  { name: 'a public key that does not match the seed', content: JSON.stringify({ type: 'ed25519', seed: SEED, publicKey: '00'.repeat(32) }), mode: 0o600 },
  { name: 'a JSON array', content: '[]', mode: 0o600 },
];

for (const c of REFUSED) {
  test(`loading refuses ${c.name} with ERR_KEY_FILE and leaves the file alone`, async (t) => {
    const path = join(await tempDir(t), 'identity.key');
    await writeFile(path, c.content);
    await chmod(path, c.mode);
    await rejectsWithCode(() => loadOrCreateIdentity(path), 'ERR_KEY_FILE');
    await rejectsWithCode(() => loadIdentity(path), 'ERR_KEY_FILE');
    assert.equal(await readFile(path, 'utf8'), c.content, 'never overwritten');
  });
}

test('a valid hand-written key file (publicKey optional) loads', async (t) => {
  const path = join(await tempDir(t), 'identity.key');
  await writeFile(path, JSON.stringify({ type: 'ed25519', seed: SEED }), { mode: 0o600 });
  const id = await loadIdentity(path);
  assert.equal(id.publicKeyHex, PUB);
  assert.equal(id.created, false);
});
