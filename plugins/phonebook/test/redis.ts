import { startRedis as start, type RedisServer } from '@plexus/core/testing';

export { freePort, type RedisServer } from '@plexus/core/testing';

/** A throw-away redis-server for the phonebook tests (see core/src/testing/redis.ts). */
export function startRedis(): Promise<RedisServer> {
  return start({ tmpPrefix: 'plexus-phonebook-redis-' });
}
