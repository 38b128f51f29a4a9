import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../log/index.js';
import { errors } from '../errors.js';
import type { Storage } from '../storage/index.js';
import { createEntryCache } from './cache.js';
import { createHeadLimiter } from './heads.js';
import { hasAllowedPrefix, keyProblem } from './keys.js';
import type { CheckMetrics } from './metrics.js';
import type { CacheEntry, CacheKeyOptions } from './recorder.js';
import { createSingleflight } from './singleflight.js';

/** The seed's `/check` answer. `size` only when the object exists. */
export interface CheckAnswer {
  exists: boolean;
  /** The answer came from the Redis cache (false: from S3 just now). */
  cached: boolean;
  /** RFC 3339: when existence was last established (recorded, or asked of S3). */
  timestamp: string;
  size?: number;
  s3_key: string;
  /** The same key under the Go daemon's name for it (its clients read this one). */
  target_path: string;
}

/** One entry of a `POST /check` answer: a check, or why the key was refused. */
export type BatchAnswer = CheckAnswer | { s3_key: string; target_path: string; error: string };

export interface ExistenceCheckerOptions extends CacheKeyOptions {
  allowedPrefixes: readonly string[];
  positiveTtlSeconds: number;
  negativeTtlSeconds: number;
  maxConcurrentHeads: number;
  headTimeoutMs: number;
  maxBatchKeys: number;
}

export interface ExistenceChecker {
  /** Answers for one key (throws a 400 `AppError` for a bad key, 503 when S3 cannot say). */
  check(key: unknown): Promise<CheckAnswer>;
  /** Answers for `{"keys": [...]}`, in order; bad keys answered in place with `error`. */
  checkMany(body: unknown): Promise<BatchAnswer[]>;
  /** Drops the cached entry of one key; resolves with how many were removed. */
  forget(key: unknown): Promise<number>;
  /** Drops every cached entry of this bucket; resolves with how many were removed. */
  forgetAll(): Promise<number>;
  /** Abandons HEADs in flight. */
  close(): void;
}

function answerOf(key: string, entry: CacheEntry, cached: boolean): CheckAnswer {
  return entry.exists
    ? { exists: true, cached, timestamp: entry.timestamp, size: entry.size ?? 0, s3_key: key, target_path: key }
    : { exists: false, cached, timestamp: entry.timestamp, s3_key: key, target_path: key };
}

/**
 * The existence cache in front of the bucket: Redis first; on a miss one shared HEAD per
 * key (bounded in number and time) whose result is cached. Redis down: answers from S3.
 * S3 down: 503, never a made-up "missing".
 */
export function createExistenceChecker(
  deps: { redis: Redis | Cluster; storage: Pick<Storage, 'head'>; log: Logger; metrics: CheckMetrics },
  options: ExistenceCheckerOptions,
): ExistenceChecker {
  const { metrics } = deps;
  const cache = createEntryCache(deps, options);
  const heads = createHeadLimiter(deps, { maxConcurrent: options.maxConcurrentHeads, timeoutMs: options.headTimeoutMs });
  const flights = createSingleflight<CheckAnswer>();

  /** Why the client's key is refused, or undefined. */
  function refusal(key: string): string | undefined {
    return (
      keyProblem(key) ?? (hasAllowedPrefix(key, options.allowedPrefixes) ? undefined : 'key not allowed: must start with allowed prefix')
    );
  }

  function validKey(key: unknown): string {
    if (key === undefined || key === null) throw errors.invalidKey('s3 key is required');
    if (typeof key !== 'string') throw errors.invalidKey('s3 key must be given once, as a string');
    const problem = keyProblem(key);
    if (problem !== undefined) throw errors.invalidKey(problem);
    if (!hasAllowedPrefix(key, options.allowedPrefixes)) throw errors.keyNotAllowed(options.allowedPrefixes);
    return key;
  }

  /** One HEAD per key at a time; the flight stays joinable until its answer is in Redis. */
  function fromStorage(key: string): Promise<CheckAnswer> {
    return flights.run(key, () => {
      const entry = heads
        .head(key)
        .then((info): CacheEntry =>
          info === null
            ? { exists: false, timestamp: new Date().toISOString() }
            : { exists: true, size: info.size, timestamp: new Date().toISOString() },
        );
      return { result: entry.then((found) => answerOf(key, found, false)), done: entry.then((found) => cache.store(key, found)) };
    });
  }

  async function ensureCache<T>(action: () => Promise<T>): Promise<T> {
    if (!cache.available()) throw errors.cacheUnavailable();
    try {
      return await action();
    } catch (error) {
      deps.log.warn({ err: error }, 'cache clear failed');
      throw errors.cacheUnavailable();
    }
  }

  return {
    async check(key) {
      const valid = validKey(key);
      const entry = await cache.read(valid);
      if (entry !== null) {
        metrics.hit();
        return answerOf(valid, entry, true);
      }
      metrics.miss();
      return fromStorage(valid);
    },

    async checkMany(body) {
      const keys = (body as { keys?: unknown } | null)?.keys;
      if (typeof body !== 'object' || body === null || Array.isArray(body) || !Array.isArray(keys)) {
        throw errors.badRequest('request body must be a JSON object {"keys": [...]}');
      }
      if (keys.length > options.maxBatchKeys) throw errors.tooManyKeys(options.maxBatchKeys);
      if (!keys.every((key) => typeof key === 'string')) throw errors.badRequest("'keys' must be an array of strings");

      const results: BatchAnswer[] = new Array(keys.length);
      const wanted: string[] = [];
      const positions: number[] = [];
      (keys as string[]).forEach((key, index) => {
        const problem = refusal(key);
        if (problem === undefined) {
          wanted.push(key);
          positions.push(index);
        } else {
          results[index] = { s3_key: key, target_path: key, error: problem };
        }
      });

      const entries = await cache.readMany(wanted);
      const lookups: Array<Promise<void>> = [];
      entries.forEach((entry, index) => {
        const key = wanted[index]!;
        const position = positions[index]!;
        if (entry !== null) {
          metrics.hit();
          results[position] = answerOf(key, entry, true);
        } else {
          metrics.miss();
          lookups.push(fromStorage(key).then((answer) => void (results[position] = answer)));
        }
      });
      // One failed HEAD fails the batch (503): a partial answer would read as "missing".
      const failure = (await Promise.allSettled(lookups)).find((outcome) => outcome.status === 'rejected');
      if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
      return results;
    },

    async forget(key) {
      const valid = validKey(key);
      const removed = await ensureCache(() => cache.remove(valid));
      deps.log.info({ s3_key: valid, removed }, 'cache entry cleared');
      return removed;
    },

    async forgetAll() {
      const removed = await ensureCache(() => cache.clear());
      deps.log.info({ removed }, 'cache cleared');
      return removed;
    },

    close: () => heads.close(),
  };
}
