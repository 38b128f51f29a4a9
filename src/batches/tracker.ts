import type { Logger } from '../log/index.js';
import type { FileSyncJobData } from '../queue/index.js';
import type { BatchStore, JobOrder, OutcomeClass } from './store.js';
import { isBatchId } from './ids.js';

export type OrderingDecision = { action: 'proceed' } | { action: 'wait'; delayMs: number } | { action: 'fail'; reason: string };

/** What the upload worker needs to keep batches exact and ordered. */
export interface BatchTracker {
  /** Marks the job's batch as running (once per batch and process). */
  started(data: FileSyncJobData): Promise<void>;
  /** Whether a job ordered after something else may run now (asks Redis until it answers, or `close()`). */
  decide(data: FileSyncJobData, jobId: string, ageMs: number): Promise<OrderingDecision>;
  /**
   * Records a job's final outcome (idempotent) and wakes the jobs that were waiting on it.
   * While Redis is unreachable it keeps trying (the upload is done; only its count is
   * missing), until `close()`.
   */
  record(data: FileSyncJobData, jobId: string, outcome: OutcomeClass, reason?: string): Promise<void>;
  /**
   * Records jobs removed from the queue by hand before they ran (the web UI's clean, empty
   * or obliterate) as failed, so their batches finish; a job that has an outcome already
   * keeps it.
   */
  removed(jobs: ReadonlyArray<{ id: string; data: FileSyncJobData }>, reason: string): Promise<void>;
  /** Stops retrying records (at shutdown: unrecorded jobs run again after the restart). */
  close(): void;
}

export interface BatchTrackerOptions {
  /** Shortest re-check delay of a waiting job. */
  minWaitMs?: number;
  /** Longest re-check delay: waiting jobs are woken when what they wait for is done, this is the safety net. */
  maxWaitMs?: number;
  /** Longest pause between tries of a record while Redis is unreachable. */
  maxRetryDelayMs?: number;
}

export function orderOf(data: FileSyncJobData): JobOrder {
  if (data.wait_for_key !== undefined) return 'after';
  return data.wait_for_batch === true ? 'last' : 'none';
}

/**
 * The worker's view of batches. `wake(jobId)` moves a delayed job to the wait list; it
 * answers false while the job is still active (it registered as a waiter and has not
 * moved itself to delayed yet), and is then tried again shortly.
 */
export function createBatchTracker(
  deps: { store: BatchStore; wake: (jobId: string) => Promise<boolean>; log: Logger },
  options: BatchTrackerOptions = {},
): BatchTracker {
  const minWaitMs = options.minWaitMs ?? 250;
  const maxWaitMs = options.maxWaitMs ?? 30_000;
  const { store, log } = deps;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 2000;
  // Batches this process already marked running; cleared when large (marking is idempotent).
  const started = new Set<string>();
  const closing = new AbortController();

  /**
   * Runs an idempotent Redis call until Redis answers or the tracker closes. An answer
   * that is an error (a `ReplyError`: wrong type, script error) is not retried.
   */
  async function persistently<T>(call: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await call();
      } catch (error) {
        if (closing.signal.aborted || (error as Error).name === 'ReplyError') throw error;
        if (attempt === 0) log.warn({ err: error }, 'batch update failed: retrying until Redis answers');
        const delay = Math.min(maxRetryDelayMs, 100 * 2 ** attempt);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, delay);
          function done() {
            clearTimeout(timer);
            closing.signal.removeEventListener('abort', done);
            resolve();
          }
          closing.signal.addEventListener('abort', done, { once: true });
        });
        if (closing.signal.aborted) throw error;
      }
    }
  }

  async function wakeWithRetry(jobId: string): Promise<void> {
    for (let attempt = 0; attempt < 4; attempt += 1) {
      try {
        if (await deps.wake(jobId)) return;
      } catch (error) {
        log.debug({ err: error, job_id: jobId }, 'waking a waiting job failed');
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)));
    }
  }

  async function record(
    data: FileSyncJobData,
    outcome: { jobId: string; outcome: OutcomeClass; reason?: string | undefined; ifUnrecorded?: boolean },
  ): Promise<void> {
    // Jobs from elsewhere (the UI, an older publisher) belong to no batch; damaged ones cannot be placed.
    if (!isBatchId(data?.batch_id) || typeof data.s3_key !== 'string') return;
    const itemIndex = Number.isInteger(data.item_index) && data.item_index! >= 0 ? data.item_index! : 0;
    const entry = { ...outcome, itemIndex, key: data.s3_key, order: orderOf(data) };
    const wake = await persistently(() => store.record(data.batch_id!, entry));
    if (wake.length > 0) await Promise.all(wake.map(wakeWithRetry));
  }

  return {
    async started(data) {
      if (data.batch_id === undefined || started.has(data.batch_id)) return;
      if (started.size >= 1000) started.clear();
      started.add(data.batch_id);
      // Only the `queued` -> `running` display depends on it: never fail a job for it.
      await store.markStarted(data.batch_id).catch((error: unknown) => {
        started.delete(data.batch_id!);
        log.debug({ err: error, batch_id: data.batch_id }, 'marking a batch running failed');
      });
    },

    async decide(data, jobId, ageMs) {
      const order = orderOf(data);
      if (data.batch_id === undefined || order === 'none') return { action: 'proceed' };
      const key = data.wait_for_key ?? '';
      // A Redis blip must not spend the job's attempts (a narinfo with max_retry 0 would fail for good).
      const answer = await persistently(() => store.gate(data.batch_id!, { jobId, order, key }));
      switch (answer) {
        case 'proceed':
          return { action: 'proceed' };
        case 'wait':
          // Re-check sooner while young; a job waiting long for a large NAR costs little.
          return { action: 'wait', delayMs: Math.round(Math.min(maxWaitMs, Math.max(minWaitMs, ageMs / 2))) };
        case 'failed':
          return { action: 'fail', reason: `NAR failed: ${key}` };
        case 'missing':
          return { action: 'fail', reason: `NAR was not uploaded by this batch: ${key}` };
        default:
          if (order === 'last') {
            log.warn({ s3_key: data.s3_key, batch_id: data.batch_id }, 'batch expired: uploading without waiting for it');
            return { action: 'proceed' };
          }
          return { action: 'fail', reason: `batch ${data.batch_id} expired before NAR ${key} was confirmed` };
      }
    },

    record: (data, jobId, outcome, reason) => record(data, { jobId, outcome, reason }),

    async removed(jobs, reason) {
      // A few hundred at a time: a whole emptied queue can be 100,000 jobs.
      for (let start = 0; start < jobs.length; start += 200) {
        const chunk = jobs.slice(start, start + 200);
        await Promise.all(chunk.map((job) => record(job.data, { jobId: job.id, outcome: 'failed', reason, ifUnrecorded: true })));
      }
    },

    close() {
      closing.abort();
    },
  };
}
