import { startRedis as start, type RedisOptions, type RedisServer } from '@plexus/core/testing';

export { freePort, type RedisOptions, type RedisServer } from '@plexus/core/testing';

/** A throw-away redis-server for the dns tests, with keyspace events on (`KA`) as the store's managed redis has them. */
export function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  return start({ tmpPrefix: 'plexus-dns-redis-', ...options, notify: options.notify ?? 'KA' });
}
