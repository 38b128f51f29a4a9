import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log/index.js';
import { cacheKey, type CacheEntry, type CacheKeyOptions } from './recorder.js';

export interface EntryCacheOptions extends CacheKeyOptions {
  /** `cache.positive_ttl_seconds`: 0 keeps "exists" entries forever. */
  positiveTtlSeconds: number;
  /** `cache.negative_ttl_seconds`: 0 never stores "missing" entries. */
  negativeTtlSeconds: number;
  /** Keys per SCAN page when clearing everything. */
  scanCount?: number;
}

/**
 * The Redis side of the existence cache. Reads never throw: an unreachable Redis reads as
 * "not cached" (the checker then asks S3), so a Redis outage costs speed, never answers.
 */
export interface EntryCache {
  /** Redis is connected: reads may hit, writes may land. */
  available(): boolean;
  /** The entry of `key`, or null when there is none (or Redis cannot say). */
  read(key: string): Promise<CacheEntry | null>;
  /** The entries of `keys` in one round trip (MGET), in order. */
  readMany(keys: readonly string[]): Promise<Array<CacheEntry | null>>;
  /**
   * Stores what S3 said, unless an entry appeared meanwhile (a worker's fresher record):
   * SET NX, with the TTL of its kind. Failures are logged, never thrown.
   */
  store(key: string, entry: CacheEntry): Promise<void>;
  /** Removes the entry of `key`; resolves with how many were removed (0 or 1). */
  remove(key: string): Promise<number>;
  /** Removes every entry of this bucket (SCAN in pages, never KEYS); resolves with the count. */
  clear(): Promise<number>;
}

/** Glob-escapes a literal for SCAN MATCH. */
function globLiteral(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

function parseEntry(raw: string): CacheEntry | null {
  try {
    const entry = JSON.parse(raw) as CacheEntry;
    return typeof entry === 'object' && entry !== null && typeof entry.exists === 'boolean' && typeof entry.timestamp === 'string'
      ? entry
      : null;
  } catch {
    return null;
  }
}

export function createEntryCache(deps: { redis: Redis | Cluster; log: Logger }, options: EntryCacheOptions): EntryCache {
  const { redis, log } = deps;
  const scanCount = options.scanCount ?? 1000;
  const keyOf = (key: string) => cacheKey(options, key);

  /** An unparsable entry would block `SET NX` for ever: drop it so the next answer lands. */
  function decode(key: string, raw: string | null): CacheEntry | null {
    if (raw === null) return null;
    const entry = parseEntry(raw);
    if (entry === null) {
      log.warn({ s3_key: key }, 'unreadable cache entry dropped');
      redis.del(keyOf(key)).catch(() => undefined);
    }
    return entry;
  }

  return {
    available: () => redis.status === 'ready',

    async read(key) {
      if (redis.status !== 'ready') return null;
      try {
        return decode(key, await redis.get(keyOf(key)));
      } catch (error) {
        log.debug({ err: error, s3_key: key }, 'cache read failed');
        return null;
      }
    },

    async readMany(keys) {
      if (keys.length === 0 || redis.status !== 'ready') return keys.map(() => null);
      try {
        const raws = await redis.mget(keys.map(keyOf));
        return raws.map((raw, index) => decode(keys[index]!, raw));
      } catch (error) {
        log.debug({ err: error, keys: keys.length }, 'cache read failed');
        return keys.map(() => null);
      }
    },

    async store(key, entry) {
      const ttl = entry.exists ? options.positiveTtlSeconds : options.negativeTtlSeconds;
      if ((!entry.exists && ttl === 0) || redis.status !== 'ready') return;
      try {
        const value = JSON.stringify(entry);
        if (ttl > 0) await redis.set(keyOf(key), value, 'EX', ttl, 'NX');
        else await redis.set(keyOf(key), value, 'NX');
      } catch (error) {
        log.debug({ err: error, s3_key: key }, 'cache write failed');
      }
    },

    async remove(key) {
      return redis.del(keyOf(key));
    },

    async clear() {
      const pattern = `${globLiteral(keyOf(''))}*`;
      // SCAN walks one server: on a cluster, walk every master (a hash-tagged key prefix
      // keeps each page's keys in one slot, so one UNLINK per page stays valid).
      const servers: Redis[] = 'isCluster' in redis && redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
      let removed = 0;
      for (const server of servers) {
        let cursor = '0';
        do {
          const [next, keys] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', scanCount);
          cursor = next;
          if (keys.length > 0) removed += await server.unlink(...keys);
        } while (cursor !== '0');
      }
      return removed;
    },
  };
}
