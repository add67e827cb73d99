import { definePlugin, type PluginDefinition } from '@plexus/core';
import { storeConfigSchema, type StoreConfig } from './config.js';
import { Store } from './store.js';

/**
 * The `store` plugin: Redis for the other plugins, as the `store` capability. By default it runs its
 * own `redis-server` child (AOF persistence, fsync on every write) in `<dataDir>/store/redis/`; with
 * `mode: replica` that child is a read-only replica of another node's store (`replicaOf`); with
 * `mode: external` it connects to a Redis someone else runs.
 */
export const plugin: PluginDefinition<StoreConfig> = definePlugin<StoreConfig>({
  name: 'store',
  version: '0.1.0',
  description: 'Redis for the other plugins: a managed redis-server child (master or replica) or an external Redis',
  provides: ['store'],
  requires: [],
  configSchema: storeConfigSchema,
  create: (ctx) => new Store(ctx),
});

export default plugin;

export {
  storeConfigSchema,
  replicaOfSchema,
  STORE_DEFAULTS,
  REPLICA_OF_DEFAULTS,
  isLoopback,
  isHostOrIp,
  type StoreConfig,
  type ReplicaOfConfig,
} from './config.js';
export { renderRedisConf, redisPaths, type RedisConfInput } from './redis-conf.js';
export type { Store } from './store.js';
export { buildStatus, parseInfo, parseReplicas, type StoreStatusReport, type ReplicaEntry } from './status.js';
