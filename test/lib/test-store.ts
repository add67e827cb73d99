import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreCapability } from '@plexus/core';
import { startPlugin, startRedis } from '@plexus/core/testing';
import { plugin as storePlugin } from '@plexus/plugin-store';

/**
 * The store plugin on a throw-away redis-server, in-process: what a test file hands plugins that
 * `require` a store. `stop()` stops the plugin, the server and removes the data dir.
 */
export async function startTestStore(prefix: string): Promise<{ store: StoreCapability; stop(): Promise<void> }> {
  const redis = await startRedis({ tmpPrefix: `${prefix}-redis-` });
  const dir = await mkdtemp(join(tmpdir(), `${prefix}-store-`));
  const stops: (() => Promise<void>)[] = [];
  const { instance } = await startPlugin(storePlugin, { mode: 'external', url: `redis://127.0.0.1:${redis.port}` }, { dataDir: dir, after: (fn) => void stops.push(fn) });
  return {
    store: instance.capabilities!().store!,
    async stop() {
      for (const s of stops) await s().catch(() => undefined);
      await redis.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
