import type { RedisClient } from '../queue/index.js';
import type { Logger } from '../log/index.js';

/** What the worker tells the existence cache after a confirmed upload or skip. */
export interface ExistenceRecorder {
  recordExists(key: string, size: number): Promise<void>;
  /** The same for many keys, sent together. */
  recordExistsMany(entries: ReadonlyArray<{ key: string; size: number }>): Promise<void>;
}

export interface CacheKeyOptions {
  /** `[redis] key_prefix`. */
  prefix: string;
  /** Identifies the bucket, so two buckets on one Redis never share entries. */
  bucketId: string;
}

/** Redis key of the cached existence of `key`. */
export function cacheKey(options: CacheKeyOptions, key: string): string {
  return `${options.prefix}:exists:${options.bucketId}:${key}`;
}

/** The cached value, as the seed stores it. */
export interface CacheEntry {
  exists: boolean;
  size?: number;
  timestamp: string;
}

/**
 * Writes positive entries. A failure to write is logged, never fatal: the object is in
 * the bucket either way, and `/check` falls back to S3 on a miss.
 */
export function createExistenceRecorder(
  deps: { redis: RedisClient; log: Logger },
  options: CacheKeyOptions & { positiveTtlSeconds: number },
): ExistenceRecorder {
  async function write(key: string, size: number, timestamp: string): Promise<void> {
    const value = JSON.stringify({ exists: true, size, timestamp } satisfies CacheEntry);
    if (options.positiveTtlSeconds > 0) await deps.redis.set(cacheKey(options, key), value, 'EX', options.positiveTtlSeconds);
    else await deps.redis.set(cacheKey(options, key), value);
  }

  return {
    async recordExists(key, size) {
      try {
        await write(key, size, new Date().toISOString());
      } catch (error) {
        deps.log.warn({ err: error, s3_key: key }, 'cache update failed');
      }
    },
    async recordExistsMany(entries) {
      if (entries.length === 0) return;
      try {
        // Separate commands sent together (not a pipeline): in a Redis Cluster the keys lie in different slots.
        const timestamp = new Date().toISOString();
        await Promise.all(entries.map(({ key, size }) => write(key, size, timestamp)));
      } catch (error) {
        deps.log.warn({ err: error, keys: entries.length }, 'cache update failed');
      }
    },
  };
}
