/**
 * `"unique": true` on a publish item, with the Go daemon's meaning (asynq's `TaskID` set to
 * the target key, tasks retained 24 h): one task per target key, so a file whose key
 * already has a task queued, running or finished within the last 24 hours is not
 * enqueued again, and counts as skipped.
 *
 * BullMQ's own deduplication does not fit: a job id per key is forgotten as soon as the
 * job is removed (our retention may remove finished jobs sooner than 24 h), and a
 * duplicate id is dropped silently, so the publish could not count it. Instead each key
 * is claimed in Redis, `<prefix>:unique:<key>` = the claiming batch's id, `SET NX` with a
 * 24 h expiry, one pipelined round trip per enqueue chunk. The claim then follows its job:
 *
 * - enqueue failed: released at once (the files were not queued);
 * - job finished (uploaded or skipped): its 24 h start again from the end, as Go's
 *   retention counts from completion;
 * - job failed for good (or removed in the UI): released, so publishing again retries
 *   the file. Go kept a failed task's id while the task sat in its archive; a failed
 *   upload that cannot be retried for a day helps no one.
 *
 * Releases and restarts are compare-and-set on the batch id: a late record of an older
 * job never frees a newer claim.
 */
import type { Cluster, Redis } from 'ioredis';
import type { BatchTracker } from '../batches/index.js';
import type { FileSyncJobData } from '../queue/index.js';

/** Go's task retention: how long a finished task still blocks its key. */
export const UNIQUE_WINDOW_SECONDS = 24 * 3600;

export interface UniqueKeysOptions {
  /** `[redis] key_prefix` (hash-tagged under Redis Cluster: every claim then lives in one slot, so a chunk is one pipeline). */
  prefix: string;
  /** Default `UNIQUE_WINDOW_SECONDS`. */
  windowSeconds?: number;
}

export interface UniqueKeys {
  /** Claims each key for `batchId` unless another holds it; per key, whether it was claimed. One round trip. */
  claim(batchId: string, keys: readonly string[]): Promise<boolean[]>;
  /** Frees the keys `batchId` holds (others' claims stay). One round trip. */
  release(batchId: string, keys: readonly string[]): Promise<void>;
  /** Starts the window of a key `batchId` holds again (its job just finished). */
  restart(batchId: string, key: string): Promise<void>;
}

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
const RESTART = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0`;

/** Redis key of the claim on an object key. */
export function uniqueClaimKey(prefix: string, key: string): string {
  return `${prefix}:unique:${key}`;
}

export function createUniqueKeys(deps: { redis: Redis | Cluster }, options: UniqueKeysOptions): UniqueKeys {
  const { redis } = deps;
  const windowSeconds = options.windowSeconds ?? UNIQUE_WINDOW_SECONDS;
  const claimKey = (key: string) => uniqueClaimKey(options.prefix, key);

  return {
    async claim(batchId, keys) {
      if (keys.length === 0) return [];
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.set(claimKey(key), batchId, 'EX', windowSeconds, 'NX');
      const replies = (await pipeline.exec()) ?? [];
      return keys.map((_, index) => {
        const [error, reply] = replies[index] ?? [new Error('no reply')];
        if (error) throw error;
        return reply === 'OK';
      });
    },
    async release(batchId, keys) {
      if (keys.length === 0) return;
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.eval(RELEASE, 1, claimKey(key), batchId);
      await pipeline.exec();
    },
    async restart(batchId, key) {
      await redis.eval(RESTART, 1, claimKey(key), batchId, windowSeconds);
    },
  };
}

/**
 * The worker's batch tracker, made to follow each unique job's claim with its outcome
 * (see the file comment). Jobs without `unique` pass straight through.
 */
export function trackingUniqueKeys(
  tracker: BatchTracker,
  unique: UniqueKeys,
  log: { warn(fields: object, msg: string): void },
): BatchTracker {
  async function follow(data: FileSyncJobData, finished: boolean): Promise<void> {
    if (data.unique !== true || data.batch_id === undefined) return;
    try {
      if (finished) await unique.restart(data.batch_id, data.s3_key);
      else await unique.release(data.batch_id, [data.s3_key]);
    } catch (error) {
      // The claim then simply runs out with its window.
      log.warn({ err: error, s3_key: data.s3_key }, 'unique claim not updated');
    }
  }
  return {
    ...tracker,
    async record(data, jobId, outcome, reason) {
      await tracker.record(data, jobId, outcome, reason);
      await follow(data, outcome !== 'failed');
    },
    async removed(jobs, reason) {
      await tracker.removed(jobs, reason);
      for (const { data } of jobs) await follow(data, false);
    },
  };
}

/** A chunk's unique jobs sorted out: those to enqueue, the keys claimed for them, and the duplicates left out. */
export interface UniqueSorting<J extends { data: FileSyncJobData }> {
  kept: J[];
  claimed: string[];
  duplicates: J[];
}

/**
 * Claims the keys of the chunk's unique jobs (one round trip) and leaves out those whose key
 * another task holds, or that an earlier job of the same chunk claimed. Jobs without
 * `unique` are kept as they are, without a round trip when there are none.
 */
export async function sortUniqueJobs<J extends { data: FileSyncJobData }>(
  unique: UniqueKeys | undefined,
  chunk: J[],
): Promise<UniqueSorting<J>> {
  const wanting = chunk.filter((job) => job.data.unique === true);
  if (unique === undefined || wanting.length === 0) return { kept: chunk, claimed: [], duplicates: [] };
  const batchId = wanting[0]!.data.batch_id ?? '';
  const granted = await unique.claim(
    batchId,
    wanting.map((job) => job.data.s3_key),
  );
  const refused = new Set(wanting.filter((_, index) => !granted[index]));
  return {
    kept: chunk.filter((job) => !refused.has(job)),
    claimed: wanting.filter((_, index) => granted[index]).map((job) => job.data.s3_key),
    duplicates: [...refused],
  };
}
