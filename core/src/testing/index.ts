export { startRedis, type RedisServer, type RedisOptions } from './redis.js';
export { freePort } from '../net/free-port.js';
