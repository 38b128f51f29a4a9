import { DelayedError, Job, QueueEvents, UnrecoverableError, Worker, type KeepJobs, type RedisOptions } from 'bullmq';
import { Cluster, type RedisOptions as IORedisOptions } from 'ioredis';
import type { Logger } from '../log/index.js';
import { createInFlight, closeWithin, closeWorkerWithin, UPLOAD_QUEUE, type FileSyncJobData, type FileSyncResult } from '../queue/index.js';
import { PermanentError, type FileSync, type JobContext } from './handler.js';
import { isUnreachableError, type OutageGate } from './outage.js';
import { jobDataProblem } from './validate.js';
import { completeJobData } from './payload.js';
import type { SyncMetrics } from './metrics.js';
import type { BatchTracker, OutcomeClass } from '../batches/index.js';
import { isThrottlingError, type UploadThrottle } from '../throttle/index.js';

export interface UploadWorkerOptions {
  /** ioredis options; BullMQ opens its own connections from them. */
  connection: IORedisOptions | Cluster;
  prefix: string;
  concurrency: number;
  /** `publish.timeout_minutes`: an upload running longer is aborted (and retried). */
  timeoutMs: number;
  /** How long `close()` waits for running uploads before abandoning them to a later run. */
  shutdownTimeoutMs: number;
  /** Job lock, renewed while the job runs; a dead daemon's jobs run again after it expires. */
  lockMs?: number;
  /**
   * How long finished jobs are kept (`uploadRetention`): set on the worker rather than in
   * every job, so queued jobs are smaller in Redis. Default: kept forever (BullMQ's).
   */
  retention?: { removeOnComplete: KeepJobs; removeOnFail: KeepJobs };
}

/** What a config reload may change while the worker runs. */
export type UploadWorkerSettings = Pick<UploadWorkerOptions, 'concurrency' | 'timeoutMs' | 'shutdownTimeoutMs' | 'retention'>;

export interface UploadWorker {
  start(): Promise<void>;
  close(): Promise<void>;
  setConcurrency(concurrency: number): void;
  /**
   * New limits: the timeout applies to uploads started from now on, the shutdown timeout to
   * the next shutdown. A higher concurrency fetches more jobs as soon as a running upload
   * finishes (BullMQ's fetch loop waits on the running ones); a lower one lets running
   * uploads finish and starts fewer.
   */
  update(settings: UploadWorkerSettings): void;
}

/** How far back the queue's event stream is read at start. */
const EVENTS_LOOKBACK_MS = 5000;

/** The reason running uploads are cancelled with when the shutdown timeout has passed. */
const SHUTDOWN_CANCEL = 'daemon shutting down';

const OUTCOME_CLASS: Record<FileSyncResult['outcome'], OutcomeClass> = {
  uploaded: 'uploaded',
  // A re-run finding its file in the bucket: an earlier attempt of this job uploaded it.
  already_present: 'uploaded',
  skipped: 'skipped',
};

/** Whether BullMQ will not run the job again after this error. */
function isFinalFailure(job: Job, error: unknown): boolean {
  const unrecoverable = error instanceof UnrecoverableError || (error as Error | undefined)?.name === 'UnrecoverableError';
  return unrecoverable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/**
 * BullMQ worker running `fileSync` for each upload job, with a real per-job timeout.
 * With `batches`, each job's final outcome is recorded in its batch from inside the
 * processor (so a crash between upload and bookkeeping is healed by the re-run, recorded
 * idempotently), and Nix-ordered jobs wait in the delayed set until they may run.
 */
export function createUploadWorker(
  deps: {
    fileSync: FileSync;
    log: Logger;
    metrics: SyncMetrics;
    outage: OutageGate;
    batches?: BatchTracker;
    /** Lowers the concurrency on throttling answers (AIMD) and holds throttled uploads back; its limit replaces `concurrency`. */
    throttle?: Pick<UploadThrottle, 'limit' | 'onLimitChange' | 'succeeded' | 'waitUntilClear'>;
  },
  options: UploadWorkerOptions,
): UploadWorker {
  const { log, batches } = deps;
  let settings: UploadWorkerSettings = options;
  /** Processor calls under way, so shutdown can wait for there to be none. */
  const uploads = createInFlight();

  function process(job: Job<FileSyncJobData, FileSyncResult>, token?: string, signal?: AbortSignal): Promise<FileSyncResult> {
    return uploads.track(() => processJob(job, token, signal));
  }

  async function processJob(job: Job<FileSyncJobData, FileSyncResult>, token?: string, signal?: AbortSignal): Promise<FileSyncResult> {
    const jobId = job.id ?? '';
    // A job carrying only the Go daemon's payload gets the fields it lacks.
    job.data = (await completeJobData(job.data)) as FileSyncJobData;
    const problem = jobDataProblem(job.data);
    if (problem !== undefined) {
      const reason = `invalid job data: ${problem}`;
      await batches?.record(job.data, jobId, 'failed', reason);
      throw new UnrecoverableError(reason);
    }
    if (batches !== undefined && job.data.batch_id !== undefined) {
      await batches.started(job.data);
      const decision = await batches.decide(job.data, jobId, Date.now() - job.timestamp);
      if (decision.action === 'wait') {
        // Documented BullMQ pattern: back to the delayed set without spending an attempt.
        await job.moveToDelayed(Date.now() + decision.delayMs, token);
        throw new DelayedError();
      }
      if (decision.action === 'fail') {
        await batches.record(job.data, jobId, 'failed', decision.reason);
        throw new UnrecoverableError(decision.reason);
      }
    }
    let result: FileSyncResult;
    try {
      result = await upload(job, signal);
    } catch (error) {
      if (signal?.aborted === true && signal.reason === SHUTDOWN_CANCEL) {
        // Cancelled at shutdown: handed back to the queue, due now, without spending an
        // attempt (BullMQ would count a failure); another daemon or the restart runs it.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      if (batches !== undefined && isFinalFailure(job, error)) {
        await batches.record(job.data, jobId, 'failed', (error as Error).message);
      }
      throw error;
    }
    await batches?.record(job.data, jobId, OUTCOME_CLASS[result.outcome]);
    return result;
  }

  async function upload(job: Job<FileSyncJobData, FileSyncResult>, signal?: AbortSignal): Promise<FileSyncResult> {
    log.debug({ s3_key: job.data.s3_key, job_id: job.id, attempt: job.attemptsMade + 1 }, 'upload job started');
    const controller = new AbortController();
    const timeoutMs = settings.timeoutMs;
    const timer = setTimeout(() => controller.abort(new Error('timeout')), timeoutMs);
    const onCancel = () => controller.abort(signal?.reason);
    if (signal?.aborted === true) onCancel();
    else signal?.addEventListener('abort', onCancel, { once: true });
    const context: JobContext = {
      createdAt: job.timestamp,
      previousUploadId: job.data.multipart_upload_id,
      rememberUpload: async (uploadId) => {
        await job.updateData({ ...job.data, multipart_upload_id: uploadId });
      },
    };
    try {
      for (;;) {
        try {
          const result = await deps.fileSync(job.data, controller.signal, context);
          deps.throttle?.succeeded();
          return result;
        } catch (error) {
          // A throttling answer costs no attempt either: wait until the storage allows requests again.
          if (!controller.signal.aborted && deps.throttle !== undefined && isThrottlingError(error)) {
            log.debug({ s3_key: job.data.s3_key, err: error }, 'upload throttled by the storage: it waits and tries again');
            await deps.throttle.waitUntilClear(controller.signal);
            continue;
          }
          // A storage outage costs no attempt: wait for the storage, then try again.
          if (controller.signal.aborted || !isUnreachableError(error) || (await deps.outage.reachable())) throw error;
          log.warn({ s3_key: job.data.s3_key, err: error }, 'storage unreachable during upload');
          await deps.outage.waitUntilReachable(controller.signal);
        }
      }
    } catch (error) {
      if (controller.signal.aborted && controller.signal.reason instanceof Error && controller.signal.reason.message === 'timeout') {
        throw new Error(`upload timed out after ${Math.round(timeoutMs / 1000)} s`);
      }
      if (error instanceof PermanentError) throw new UnrecoverableError(error.message);
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onCancel);
    }
  }

  const worker = new Worker<FileSyncJobData, FileSyncResult>(UPLOAD_QUEUE, process, {
    connection: options.connection as RedisOptions | Cluster,
    prefix: options.prefix,
    concurrency: deps.throttle?.limit() ?? options.concurrency,
    autorun: false,
    // A daemon killed mid-upload leaves its jobs active; after their lock expires they are
    // moved back to wait. Allow that often before giving a job up as failed.
    maxStalledCount: 10,
    ...options.retention,
    ...(options.lockMs !== undefined ? { lockDuration: options.lockMs, stalledInterval: options.lockMs } : {}),
  });

  worker.on('failed', (job, error) => {
    if (job === undefined) return;
    const final =
      job.attemptsMade >= (job.opts.attempts ?? 1) || error instanceof UnrecoverableError || error.name === 'UnrecoverableError';
    const fields = { s3_key: job.data.s3_key, file: job.data.file_path, attempt: job.attemptsMade, err: error };
    if (final) {
      deps.metrics.failed(error.name);
      log.error(fields, 'file upload failed');
    } else {
      log.warn(fields, 'file upload failed, will retry');
    }
  });
  worker.on('error', (error) => log.warn({ err: error }, 'worker error'));
  deps.throttle?.onLimitChange((limit) => {
    if (worker.concurrency !== limit) worker.concurrency = limit;
  });

  // BullMQ fails a job that stalled too often (daemons kept dying on it) without running
  // the processor, so no outcome would reach its batch, which would then stay running
  // until it expires. The queue's event stream tells of every job failed for good: those
  // are recorded here too (recording a job's outcome again changes nothing).
  let events: QueueEvents | undefined;

  function watchFailures(): void {
    events = new QueueEvents(UPLOAD_QUEUE, {
      connection: options.connection as RedisOptions | Cluster,
      prefix: options.prefix,
      autorun: false,
      // From a few seconds back rather than BullMQ's `$` (its first read, a moment after
      // start), so nothing failed after start() is missed, even with the Redis server's
      // clock a little off; an event seen twice is recorded once.
      lastEventId: `${Date.now() - EVENTS_LOOKBACK_MS}-0`,
    });
    events.on('failed', ({ jobId, failedReason }) => void recordFailedElsewhere(jobId, failedReason));
    events.on('error', (error) => log.debug({ err: error }, 'queue events error'));
    void events.run().catch((error: unknown) => log.warn({ err: error }, 'queue events stopped'));
  }

  async function recordFailedElsewhere(jobId: string, reason: string): Promise<void> {
    try {
      const job = await Job.fromId<FileSyncJobData, FileSyncResult>(worker, jobId);
      if (job === undefined || (await job.getState()) !== 'failed') return;
      await batches!.record(job.data, jobId, 'failed', reason);
    } catch (error) {
      log.debug({ err: error, job_id: jobId }, 'recording a failed job in its batch failed');
    }
  }

  let closing: Promise<void> | undefined;
  return {
    async start() {
      void worker.run().catch((error: unknown) => log.error({ err: error }, 'worker stopped'));
      await worker.waitUntilReady();
      if (batches !== undefined) watchFailures();
    },
    setConcurrency(concurrency) {
      worker.concurrency = concurrency;
    },
    update(next) {
      settings = next;
      // With a throttle, its limit (already updated from the same config) is the concurrency.
      const concurrency = deps.throttle?.limit() ?? next.concurrency;
      if (worker.concurrency !== concurrency) worker.concurrency = concurrency;
      // BullMQ reads these options each time a job finishes.
      if (next.retention !== undefined) Object.assign(worker.opts, next.retention);
    },
    close() {
      closing ??= (async () => {
        const reader = events;
        await closeWorkerWithin(
          worker,
          { log, work: uploads },
          {
            name: 'upload worker',
            shutdownTimeoutMs: settings.shutdownTimeoutMs,
            cancel: () => worker.cancelAllJobs(SHUTDOWN_CANCEL),
            cancelled: 'uploads still running at shutdown: cancelled, they run again after restart',
            ignored: 'uploads did not end when cancelled: their jobs run again once their lock expires',
            beside: reader !== undefined ? () => closeWithin('queue events', reader, log) : undefined,
          },
        );
        // A cluster connection was handed in as an instance: BullMQ leaves it open.
        if (options.connection instanceof Cluster) options.connection.disconnect();
      })();
      return closing;
    },
  };
}
