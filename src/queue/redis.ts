import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/index.js';

/** ioredis options for the configured server, without behaviour flags. */
export function redisConnectionOptions(redis: Config['redis']): RedisOptions {
  const separator = redis.addr.lastIndexOf(':');
  const host = redis.addr.slice(0, separator).replace(/^\[|\]$/g, '') || 'localhost';
  const port = Number(redis.addr.slice(separator + 1));
  return {
    host,
    port,
    db: redis.db,
    ...(redis.username !== '' ? { username: redis.username } : {}),
    ...(redis.password !== '' ? { password: redis.password } : {}),
    // Keep reconnecting, never faster than every 2 s, after a restart or outage.
    retryStrategy: (times) => Math.min(times * 100, 2000),
  };
}

/**
 * Connection options for BullMQ workers: commands wait for a reconnect instead of failing
 * (BullMQ requires `maxRetriesPerRequest: null` for its blocking calls).
 */
export function workerConnectionOptions(redis: Config['redis']): RedisOptions {
  return { ...redisConnectionOptions(redis), maxRetriesPerRequest: null };
}

/**
 * A connection for request paths: fails fast while Redis is unreachable (no offline
 * queue), so an HTTP request answers 503 or falls back instead of hanging. `extra` adds
 * options (a `commandTimeout` for a connection that must not wait on a hung server).
 */
export function createFailFastRedis(redis: Config['redis'], name: string, extra: RedisOptions = {}): Redis {
  return new Redis({
    ...redisConnectionOptions(redis),
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    lazyConnect: false,
    ...extra,
  });
}

/** Quits a connection politely, or drops it when Redis is gone. Idempotent. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through to disconnect
    }
  }
  client.disconnect();
}
