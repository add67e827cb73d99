import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateSeed } from 'ripple-keypairs';
import {
  PARAM_EVENT_DATA_KEY,
  acquireErrorTx,
  acquireSuccessTx,
  decodeBlob,
  decodeHookParams,
  decodeMemos,
  extendSuccessTx,
  heartbeatTx,
  hostKeyFromSecret,
  openAnonymous,
  signTx,
  txHash,
  xahauDefinitions,
} from '../src/index.js';

const C = { host: 'rnET2YR19WDP4vB8XtDhcF2J4afqMM6xim', networkId: 21337 };
const TENANT = 'rWYkbWkCeg8dP6rXALnjgZSjjLyih5NXm';
const ACQ = 'A1'.repeat(32);

test('acquire success: 1 drop, evnAcquireSuccess + acquire hash, base64 memo 0x01 || sealed box the tenant opens', () => {
  // The tenant's message key: an Ed25519 account key from a known seed.
  const tenant = hostKeyFromSecret(generateSeed({ entropy: new Uint8Array(16).fill(3), algorithm: 'ed25519' }));
  const tx = acquireSuccessTx(C, TENANT, ACQ, { name: 'i1', user_port: 26201 }, tenant.publicKey);
  assert.equal(tx.Amount, '1');
  assert.equal(tx.NetworkID, 21337);
  const params = decodeHookParams(tx.HookParameters);
  assert.deepEqual([...params.values()], ['evnAcquireSuccess', ACQ]);
  const memo = decodeMemos(tx.Memos)[0]!;
  assert.deepEqual([memo.type, memo.format], ['evnAcquireSuccess', 'base64']);
  const raw = Buffer.from(memo.data, 'base64');
  assert.equal(raw[0], 1);
  assert.deepEqual(JSON.parse(Buffer.from(openAnonymous(raw.subarray(1), tenant.messageSeed!)).toString()), { name: 'i1', user_port: 26201 });
});

test('acquire error refunds the EVR with {type: ACQUIRE_ERR, reason}; extend success carries the expiry moment', () => {
  const refund = { currency: 'EVR', issuer: 'ra328vuQhL5fKrjqGB3FzVM45a5zuNS2KR', value: '2' };
  const err = acquireErrorTx(C, TENANT, ACQ, refund, 'NO_CAPACITY');
  assert.deepEqual(err.Amount, refund);
  assert.deepEqual(JSON.parse(decodeMemos(err.Memos)[0]!.data), { type: 'ACQUIRE_ERR', reason: 'NO_CAPACITY' });
  assert.equal(decodeHookParams(err.HookParameters).get(PARAM_EVENT_DATA_KEY), ACQ);
  const ext = extendSuccessTx(C, TENANT, ACQ, 0x01020304);
  assert.deepEqual(decodeMemos(ext.Memos)[0], { type: 'evnExtendSuccess', format: 'hex', data: '01020304' });
});

test('signed with Xahau definitions (ed25519 and secp256k1): the blob decodes back, the hash is SHA-512Half of it', () => {
  const defs = xahauDefinitions();
  for (const algorithm of ['ed25519', 'ecdsa-secp256k1'] as const) {
    const key = hostKeyFromSecret(generateSeed({ entropy: new Uint8Array(16).fill(2), algorithm }));
    const tx = { ...heartbeatTx({ host: key.address, networkId: 21337 }, 'rHktfGUbjqzU4GsYCMc1pDjdHXb5CJamto'), Sequence: 5, Fee: '12', LastLedgerSequence: 100 };
    const s = signTx(tx, key, defs);
    const back = decodeBlob(s.blob, defs);
    assert.equal(back.TransactionType, 'Payment');
    assert.equal(back.NetworkID, 21337);
    assert.deepEqual(decodeHookParams(back.HookParameters).get('4556520100000000000000000000000000000000000000000000000000000002'), 'evnHeartbeat');
    assert.equal(s.hash, txHash(s.blob));
    assert.match(s.hash, /^[0-9A-F]{64}$/);
  }
});
