import { UnrecoverableError, Worker, type Job, type KeepJobs, type RedisOptions } from 'bullmq';
import { Cluster, type RedisOptions as IORedisOptions } from 'ioredis';
import type { Logger } from '../log/index.js';
import { UPLOAD_QUEUE, type FileSyncJobData, type FileSyncResult } from '../queue/index.js';
import { PermanentError, type FileSync, type JobContext } from './handler.js';
import { isUnreachableError, type OutageGate } from './outage.js';
import { jobDataProblem } from './validate.js';
import type { SyncMetrics } from './metrics.js';

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

export interface UploadWorker {
  start(): Promise<void>;
  close(): Promise<void>;
  setConcurrency(concurrency: number): void;
}

/** BullMQ worker running `fileSync` for each upload job, with a real per-job timeout. */
export function createUploadWorker(
  deps: { fileSync: FileSync; log: Logger; metrics: SyncMetrics; outage: OutageGate },
  options: UploadWorkerOptions,
): UploadWorker {
  const { log } = deps;

  async function process(job: Job<FileSyncJobData, FileSyncResult>, _token?: string, signal?: AbortSignal): Promise<FileSyncResult> {
    const problem = jobDataProblem(job.data);
    if (problem !== undefined) throw new UnrecoverableError(`invalid job data: ${problem}`);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('timeout')), options.timeoutMs);
    const onCancel = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onCancel, { once: true });
    const context: JobContext = {
      previousUploadId: job.data.multipart_upload_id,
      rememberUpload: async (uploadId) => {
        await job.updateData({ ...job.data, multipart_upload_id: uploadId });
      },
    };
    try {
      for (;;) {
        try {
          return await deps.fileSync(job.data, controller.signal, context);
        } catch (error) {
          // A storage outage costs no attempt: wait for the storage, then try again.
          if (controller.signal.aborted || !isUnreachableError(error) || (await deps.outage.reachable())) throw error;
          log.warn({ s3_key: job.data.s3_key, err: error }, 'storage unreachable during upload');
          await deps.outage.waitUntilReachable(controller.signal);
        }
      }
    } catch (error) {
      if (controller.signal.aborted && controller.signal.reason instanceof Error && controller.signal.reason.message === 'timeout') {
        throw new Error(`upload timed out after ${Math.round(options.timeoutMs / 1000)} s`);
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
    concurrency: options.concurrency,
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

  let closing: Promise<void> | undefined;
  return {
    async start() {
      void worker.run().catch((error: unknown) => log.error({ err: error }, 'worker stopped'));
      await worker.waitUntilReady();
    },
    setConcurrency(concurrency) {
      worker.concurrency = concurrency;
    },
    close() {
      closing ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), options.shutdownTimeoutMs);
        });
        const outcome = await Promise.race([worker.close().then(() => 'closed' as const), timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          log.warn({ timeout_ms: options.shutdownTimeoutMs }, 'uploads still running at shutdown; they will be retried after restart');
          await worker.close(true);
        }
        // A cluster connection was handed in as an instance: BullMQ leaves it open.
        if (options.connection instanceof Cluster) options.connection.disconnect();
      })();
      return closing;
    },
  };
}
