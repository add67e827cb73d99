import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { percentile, round, sortedCopy } from './stats.js';

/** The same registrations written straight into the explorer's redis: no RPC, no libp2p, no signatures. */
export interface StoreReference {
  callers: number;
  seconds: number;
  registrationsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  errors: number;
}

interface Registry {
  register(input: { name: string; email: string; pubkey: string; wallet_name: string }): Promise<unknown>;
}

/**
 * `callers` closed loops of the phonebook's own `PhonebookRegistry.register` (the same Lua script,
 * the same keys) over one ioredis connection to the explorer's redis-server, so with the same
 * fsync setting: what the store alone sustains, the ceiling of a registration over RPC.
 * The phonebook is loaded at run time: bench/tsconfig.json references only core.
 */
export async function storeReference(nodeDataDir: string, redisPort: number, callers: number, warmupMs: number, measureMs: number, tag: string): Promise<StoreReference> {
  const password = (await readFile(join(nodeDataDir, 'store', 'redis.password'), 'utf8')).trim();
  const phonebook = (await import('@plexus/plugin-phonebook' as string)) as { PhonebookRegistry: new (redis: Redis) => Registry };
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, password, maxRetriesPerRequest: 1 });
  try {
    const registry = new phonebook.PhonebookRegistry(redis);
    const start = performance.now();
    const measureStart = start + warmupMs;
    const measureEnd = measureStart + measureMs;
    const latencies: number[] = [];
    let errors = 0;
    const loop = async (c: number): Promise<void> => {
      const pubkey = randomBytes(32).toString('hex');
      for (let seq = 0; performance.now() < measureEnd; seq++) {
        const t0 = performance.now();
        let ok = true;
        try {
          await registry.register({ name: `${tag}-r${c}-${seq}`, email: 'bench@example.com', pubkey, wallet_name: '' });
        } catch {
          ok = false;
        }
        const done = performance.now();
        if (done < measureStart || done > measureEnd) continue;
        if (ok) latencies.push(done - t0);
        else errors++;
      }
    };
    await Promise.all(Array.from({ length: callers }, (_, c) => loop(c)));
    const sorted = sortedCopy(latencies);
    return {
      callers,
      seconds: measureMs / 1000,
      registrationsPerSec: round(latencies.length / (measureMs / 1000), 0),
      p50Ms: round(percentile(sorted, 50), 2),
      p99Ms: round(percentile(sorted, 99), 2),
      p999Ms: round(percentile(sorted, 99.9), 2),
      errors,
    };
  } finally {
    redis.disconnect();
  }
}
