import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { generateKeyPair, signDetached, verifyDetached } from '@plexus/core';
import { PLEXUS_BIN } from './plexus-node.js';
import { median } from './stats.js';

/**
 * Single-thread Ed25519 verify rate with node:crypto through the core's own `verifyDetached`
 * (the call the RPC server makes once per signed request). Messages are distinct and about the
 * size of a signed name_register envelope; keys come from a pool like the benchmark's clients, so
 * the core's public-key cache is exercised the same way.
 */
export function ed25519VerifyRate(durationMs = 2000): { verifiesPerSecond: number; verifies: number; seconds: number } {
  const keys = Array.from({ length: 100 }, () => generateKeyPair());
  const N = 4096;
  const msgs: Uint8Array[] = [];
  const sigs: Uint8Array[] = [];
  const pubs: Uint8Array[] = [];
  for (let i = 0; i < N; i++) {
    const key = keys[i % keys.length]!;
    const m = randomBytes(320);
    msgs.push(m);
    sigs.push(signDetached(m, key));
    pubs.push(key.publicKey);
  }
  // Warm the key cache and the JIT, outside the timed loop.
  for (let i = 0; i < 200; i++) verifyDetached(msgs[i]!, sigs[i]!, pubs[i]!);
  let count = 0;
  const t0 = performance.now();
  const end = t0 + durationMs;
  let now = t0;
  while (now < end && count < 10_000_000) {
    for (let j = 0; j < 64; j++) {
      const i = count % N;
      if (!verifyDetached(msgs[i]!, sigs[i]!, pubs[i]!)) throw new Error('reference verify failed on a valid signature');
      count++;
    }
    now = performance.now();
  }
  const seconds = (now - t0) / 1000;
  return { verifiesPerSecond: count / seconds, verifies: count, seconds };
}

/** Wall time of `bin/plexus --help`, `runs` times in a row (process start to exit). */
export async function helpWallTimes(runs = 10): Promise<{ medianMs: number; runsMs: number[] }> {
  const runsMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(PLEXUS_BIN, ['--help'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', reject);
      child.once('exit', (c) => (c === 0 ? resolve(c) : reject(new Error(`plexus --help exited with ${c}: ${err}`))));
    });
    void code;
    runsMs.push(performance.now() - t0);
  }
  return { medianMs: median(runsMs), runsMs };
}
