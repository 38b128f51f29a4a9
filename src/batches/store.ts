import type { Cluster, Redis } from 'ioredis';
import { GATE, MARK_STARTED, RECORD_OUTCOME, SEAL } from './scripts.js';
import { toBatchProgress, toBatchResult, type BatchProgress, type BatchResult } from './result.js';

/** How a finished job counts: `already_present` (a re-run finding its file uploaded) counts as uploaded. */
export type OutcomeClass = 'uploaded' | 'skipped' | 'failed';

/** Ordering class of a job: none, after one key of its batch, or after the rest of its batch. */
export type JobOrder = 'none' | 'after' | 'last';

/** What the ordering gate answers for a waiting job (see `GATE` in scripts.ts). */
export type GateAnswer = 'proceed' | 'wait' | 'failed' | 'missing' | 'gone';

export interface OutcomeEntry {
  jobId: string;
  itemIndex: number;
  key: string;
  order: JobOrder;
  outcome: OutcomeClass;
  /** Why the job failed for good (outcome `failed`). */
  reason?: string | undefined;
  /** Record only when the job has no outcome yet (it was removed from the queue by hand). */
  ifUnrecorded?: boolean;
}

export interface SealTotals {
  /** Jobs enqueued. */
  total: number;
  /** Of those, jobs ordered after a key (narinfos after their NAR). */
  after: number;
  /** Of those, jobs ordered after the rest of the batch (`nix-cache-info`). */
  last: number;
  /** Entries the walk passed over (reported as the publish reply's `skipped_count`). */
  skippedEntries: number;
  /** Jobs enqueued per request item. */
  items: number[];
  /** Files per request item the bucket already held (a listing showed the same size): not enqueued, counted as skipped. */
  present: number[];
}

export interface BatchStoreOptions {
  /** `[redis] key_prefix`. */
  prefix: string;
  /** `[publish] batch_ttl_hours`, in seconds: a batch is forgotten this long after its last update. */
  ttlSeconds: number;
}

/** Longest failure reason kept per file. */
const MAX_REASON = 500;

type ScriptCall = (...args: Array<string | number>) => Promise<unknown>;

function defineScript(redis: Redis | Cluster, name: string, lua: string): ScriptCall {
  if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 6, lua });
  return (...args) => (redis as unknown as Record<string, ScriptCall>)[name]!(...args);
}

/** Batch state in Redis: created by the publisher, updated by the workers, read by the API. */
export function createBatchStore(deps: { redis: Redis | Cluster }, options: BatchStoreOptions) {
  const { redis } = deps;
  const record = defineScript(redis, 'sync4loongBatchRecord', RECORD_OUTCOME);
  const seal = defineScript(redis, 'sync4loongBatchSeal', SEAL);
  const gate = defineScript(redis, 'sync4loongBatchGate', GATE);
  const markStarted = defineScript(redis, 'sync4loongBatchStarted', MARK_STARTED);

  function keysOf(id: string): string[] {
    // `{id}` is a hash tag: a batch's keys share one Redis Cluster slot, as its scripts need.
    const base = `${options.prefix}:batch:{${id}}`;
    return [base, `${base}:jobs`, `${base}:keys`, `${base}:failed`, `${base}:reasons`, `${base}:waiters`];
  }

  return {
    async create(id: string, items: ReadonlyArray<{ from: string; to: string }>): Promise<void> {
      const [batch] = keysOf(id) as [string];
      const fields = { created_at: Date.now(), sealed: 0, items: JSON.stringify(items.map(({ from, to }) => ({ from, to }))) };
      await redis.multi().hset(batch, fields).expire(batch, options.ttlSeconds).exec();
    },

    async seal(id: string, totals: SealTotals): Promise<void> {
      const perItem = totals.items.flatMap((jobs, index) => [jobs, totals.present[index] ?? 0]);
      await seal(...keysOf(id), totals.total, totals.after, totals.last, totals.skippedEntries, Date.now(), options.ttlSeconds, ...perItem);
    },

    /**
     * Notes keys the bucket already holds, found before their jobs would have been enqueued,
     * so a narinfo of the same batch waiting for one of them goes ahead.
     */
    async recordPresent(id: string, keys: readonly string[]): Promise<void> {
      if (keys.length === 0) return;
      const [, , keysHash] = keysOf(id) as [string, string, string];
      const fields = Object.fromEntries(keys.map((key) => [key, 'skipped']));
      await redis.multi().hset(keysHash, fields).expire(keysHash, options.ttlSeconds).exec();
    },

    async markStarted(id: string): Promise<void> {
      await markStarted(...keysOf(id), Date.now());
    },

    /** Records a job's final outcome; returns the ids of waiting jobs this may unblock. */
    async record(id: string, entry: OutcomeEntry): Promise<string[]> {
      const reason = (entry.reason ?? '').slice(0, MAX_REASON);
      const wake = await record(
        ...keysOf(id),
        entry.jobId,
        entry.outcome,
        entry.itemIndex,
        entry.key,
        entry.order,
        reason,
        Date.now(),
        options.ttlSeconds,
        entry.ifUnrecorded === true ? 'first' : '',
      );
      return Array.isArray(wake) ? (wake as string[]) : [];
    },

    async gate(id: string, query: { jobId: string; order: 'after' | 'last'; key: string }): Promise<GateAnswer> {
      return (await gate(...keysOf(id), query.order, query.key, query.jobId)) as GateAnswer;
    },

    /** The batch as `GET /batches/{id}` shows it, or undefined when unknown or expired. */
    async result(id: string): Promise<BatchResult | undefined> {
      const [batch, , , failed, reasons] = keysOf(id) as [string, string, string, string, string];
      const replies = await redis.multi().hgetall(batch).smembers(failed).hgetall(reasons).exec();
      if (replies === null) throw new Error('batch read aborted');
      for (const [error] of replies) if (error) throw error;
      const fields = replies[0]![1] as Record<string, string>;
      if (fields.created_at === undefined) return undefined;
      return toBatchResult(id, fields, replies[1]![1] as string[], replies[2]![1] as Record<string, string>, Date.now());
    },

    /** Counters only (one round trip), for progress streams. */
    async progress(id: string): Promise<BatchProgress | undefined> {
      const [batch] = keysOf(id) as [string];
      const names = ['created_at', 'started_at', 'finished_at', 'sealed', 'total', 'done', 'uploaded', 'skipped', 'failed'] as const;
      const values = await redis.hmget(batch, ...names);
      const fields: Record<string, string> = {};
      names.forEach((name, index) => {
        const value = values[index];
        if (value !== null && value !== undefined) fields[name] = value;
      });
      if (fields.created_at === undefined) return undefined;
      return toBatchProgress(id, fields, Date.now());
    },
  };
}

export type BatchStore = ReturnType<typeof createBatchStore>;
