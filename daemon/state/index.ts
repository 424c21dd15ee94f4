/** The live resource store: the interface, its Redis implementation and the embedded redis-server. */
export type * from './store.js';
export { RedisResourceStore, STORE_DEFAULTS, MAX_BPS, type RedisStoreOptions } from './redis-store.js';
export { startEmbeddedRedis, findOnPath, type EmbeddedRedis, type EmbeddedRedisOptions } from './embedded-redis.js';
