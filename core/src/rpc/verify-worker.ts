import { parentPort } from 'node:worker_threads';
import { verifyHex } from '../crypto/ed25519.js';
import type { VerifyBatch, VerifyResults } from './verify-pool.js';

/**
 * A VerifyPool thread: verifies batches of Ed25519 signatures and answers one byte per item
 * (1 valid, 0 not). It imports node:crypto and nothing else, so it starts in a few ms and holds
 * little memory; its public-key cache is its own.
 */
const port = parentPort;
if (port === null) throw new Error('verify-worker.js runs only as a worker thread of a VerifyPool');
port.on('message', (batch: VerifyBatch) => {
  const bytes = new Uint8Array(batch.bytes);
  const valid = new Uint8Array(batch.ends.length);
  let start = 0;
  for (let i = 0; i < batch.ends.length; i++) {
    const end = batch.ends[i]!;
    valid[i] = verifyHex(bytes.subarray(start, end), batch.sigs[i]!, batch.pubkeys[i]!) ? 1 : 0;
    start = end;
  }
  const answer: VerifyResults = { id: batch.id, valid };
  port.postMessage(answer, [valid.buffer]);
});
