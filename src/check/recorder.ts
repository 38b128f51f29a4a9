import type { RedisClient } from '../queue/index.js';
import type { Logger } from '../log/index.js';

/** What the worker tells the existence cache after a confirmed upload or skip. */
export interface ExistenceRecorder {
  recordExists(key: string, size: number): Promise<void>;
  /** The same for many keys, in one round trip. */
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
  async function recordMany(entries: ReadonlyArray<{ key: string; size: number }>): Promise<void> {
    const timestamp = new Date().toISOString();
    const ttl = options.positiveTtlSeconds;
    // One key per command: in a Redis Cluster the keys of one batch lie in different slots.
    const pipeline = deps.redis.pipeline();
    for (const { key, size } of entries) {
      const value = JSON.stringify({ exists: true, size, timestamp } satisfies CacheEntry);
      if (ttl > 0) pipeline.set(cacheKey(options, key), value, 'EX', ttl);
      else pipeline.set(cacheKey(options, key), value);
    }
    const replies = await pipeline.exec();
    const failed = replies?.find(([error]) => error !== null)?.[0];
    if (failed) throw failed;
  }

  return {
    async recordExists(key, size) {
      const entry: CacheEntry = { exists: true, size, timestamp: new Date().toISOString() };
      try {
        if (options.positiveTtlSeconds > 0) {
          await deps.redis.set(cacheKey(options, key), JSON.stringify(entry), 'EX', options.positiveTtlSeconds);
        } else {
          await deps.redis.set(cacheKey(options, key), JSON.stringify(entry));
        }
      } catch (error) {
        deps.log.warn({ err: error, s3_key: key }, 'cache update failed');
      }
    },
    async recordExistsMany(entries) {
      if (entries.length === 0) return;
      try {
        await recordMany(entries);
      } catch (error) {
        deps.log.warn({ err: error, keys: entries.length }, 'cache update failed');
      }
    },
  };
}
