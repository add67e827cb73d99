/**
 * The plugin test kit (`@plexus/core/testing`): a fake plugin context, coded-error assertions and
 * a throw-away redis-server. docs/writing-a-plugin.md shows them in use.
 */
export { startRedis, type RedisServer, type RedisOptions } from './redis.js';
export { freePort, portFree } from '../net/free-port.js';
export { fakeContext, startPlugin, servedInspector, type FakeContext, type FakeContextOptions } from './context.js';
export { codeOf } from './errors.js';
