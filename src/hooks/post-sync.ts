import { Queue, Worker, type JobsOptions, type RedisOptions } from 'bullmq';
import type { Cluster, RedisOptions as IORedisOptions } from 'ioredis';
import type { RedisClient as Redis } from '../queue/index.js';
import { errors } from '../errors.js';
import { closeWithin, closeWorkerWithin } from '../queue/close.js';
import type { Logger } from '../log/index.js';
import { createChangeSet, type PendingTiming } from './changes.js';
import { createRunHistory, type HookRun } from './history.js';
import type { HookMetrics } from './metrics.js';
import { createUploadNotifier } from './notifier.js';
import { createJobRunner, type PostSyncJobData, type PostSyncResult } from './run-job.js';
import { splitCommand } from './words.js';

export { OUTPUT_TAIL_BYTES, type PostSyncJobData, type PostSyncResult } from './run-job.js';

/** BullMQ queue (and job name) of the post-sync command. */
export const POST_SYNC_QUEUE = 'post_sync';
/** The one deduplication id: every upload re-arms the same job. */
const DEDUPLICATION_ID = 'post_sync';

/** Most uploaded keys kept by name and written to the command's stdin. */
export const MAX_REPORTED_KEYS = 10_000;
/** Runs kept in the history served at `GET /hooks/runs`. */
export const HISTORY_SIZE = 50;

export interface PostSyncOptions {
  /** `enable_ssh_task` with a non-empty `ssh_command`: otherwise nothing is ever enqueued. */
  enabled: boolean;
  command: string;
  /** Run `command` with `sh -c` instead of splitting it into words. */
  shell: boolean;
  debounceMs: number;
  maxWaitMs: number;
  timeoutMs: number;
  killGraceMs: number;
  /** Retries after the first try. */
  maxRetry: number;
  retryBackoffMs: number;
  /** `[redis] key_prefix` (BullMQ prefix and our own keys). */
  prefix: string;
  /** ioredis options for the worker's own connections. */
  connection: IORedisOptions | Cluster;
  /** How long `close()` waits for a running command before stopping it. */
  shutdownTimeoutMs: number;
  /** Upload notifications within this window go to Redis together (default 100 ms). */
  coalesceMs?: number;
  /** Run the command's worker in this process (default true; false in an `api`-role daemon). */
  runWorker?: boolean;
}

/** What `update()` may change: everything but where the queue lives and who runs it. */
export type PostSyncSettings = Omit<PostSyncOptions, 'prefix' | 'connection' | 'coalesceMs' | 'runWorker'>;

/** What `GET /hooks/runs` shows. */
export interface PostSyncReport {
  enabled: boolean;
  /** Uploads not yet reported by a successful run. */
  pending: { uploaded_count: number; first_upload_at: string | null };
  /** Newest first. */
  runs: HookRun[];
}

export interface PostSync {
  /** The queue, for the monitoring UI. */
  readonly queue: Queue<PostSyncJobData, PostSyncResult>;
  /** Called after every real upload: cheap, never throws, never waits on Redis. */
  notifyUpload(key: string): void;
  /** Records buffered notifications now (tests). */
  flush(): Promise<void>;
  report(): Promise<PostSyncReport>;
  /**
   * Takes new settings (a config reload): the next arm and the next run use them; turning
   * the command on starts this daemon's worker, turning it off stops it (a running command
   * gets up to `shutdownTimeoutMs` to finish). Uploads pending stay in Redis meanwhile.
   */
  update(settings: PostSyncSettings): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The post-sync command: every real upload re-arms one debounced BullMQ job; when uploads
 * have been quiet for the debounce time (or the first unreported upload is `maxWaitMs`
 * old), one worker somewhere runs the command, once (global concurrency 1 across all
 * workers and daemons on the Redis).
 */
export function createPostSync(deps: { redis: Redis; log: Logger; metrics: HookMetrics }, options: PostSyncOptions): PostSync {
  const { redis, log, metrics } = deps;
  const hooksPrefix = `${options.prefix}:hooks`;
  const changes = createChangeSet({ redis }, { keyPrefix: hooksPrefix, maxKeys: MAX_REPORTED_KEYS });
  const history = createRunHistory({ redis }, { key: `${hooksPrefix}:runs`, size: HISTORY_SIZE });
  const runWorker = options.runWorker ?? true;
  /** The current settings, swapped whole by `update()`; each arm and run reads them once. */
  let settings: PostSyncSettings = options;
  let argv = argvOf(settings);

  const queue = new Queue<PostSyncJobData, PostSyncResult>(POST_SYNC_QUEUE, { connection: redis, prefix: options.prefix });
  queue.on('error', (error) => log.debug({ err: error }, 'post-sync queue error'));

  async function arm(timing: PendingTiming): Promise<void> {
    // Debounce from now, but never past the max wait counted from the first unreported upload.
    const { debounceMs, maxWaitMs, maxRetry, retryBackoffMs } = settings;
    const delay = Math.max(0, Math.min(debounceMs, timing.since + maxWaitMs - timing.now));
    const jobOptions: JobsOptions = {
      delay,
      // replace: a delayed job is swapped for this one (the debounce restarts).
      // keepLastIfActive: while a run is active, this add is stored and becomes exactly one
      //   next job when the run ends (so uploads during a run are never missed).
      // extend/ttl: only matter without keepLastIfActive (BullMQ ignores ttl with it); set
      //   to the debounce so the intent stays the same if that option is ever dropped.
      deduplication: { id: DEDUPLICATION_ID, ttl: debounceMs, extend: true, replace: true, keepLastIfActive: true },
      attempts: maxRetry + 1,
      backoff: { type: 'exponential', delay: retryBackoffMs },
      removeOnComplete: { count: HISTORY_SIZE },
      removeOnFail: { count: HISTORY_SIZE },
    };
    await queue.add(POST_SYNC_QUEUE, { armed_at: new Date(timing.now).toISOString() }, jobOptions);
  }

  const runner = createJobRunner({ changes, history, metrics, log }, () => ({
    argv,
    timeoutMs: settings.timeoutMs,
    killGraceMs: settings.killGraceMs,
  }));

  const notifier = createUploadNotifier(
    { changes, arm, log },
    { coalesceMs: options.coalesceMs ?? 100, retryMs: 2000, maxKeys: MAX_REPORTED_KEYS },
  );

  /** This daemon's worker of the command, while the command is enabled. */
  let worker: Worker<PostSyncJobData, PostSyncResult> | undefined;
  let started = false;

  async function startWorker(): Promise<void> {
    const created = new Worker<PostSyncJobData, PostSyncResult>(POST_SYNC_QUEUE, (job) => runner.process(job), {
      connection: options.connection as RedisOptions | Cluster,
      prefix: options.prefix,
      concurrency: 1,
      autorun: false,
    });
    created.on('error', (error) => log.warn({ err: error }, 'post-sync worker error'));
    worker = created;
    await ensureGlobalConcurrency();
    if (closing !== undefined) return;
    void created.run().catch((error: unknown) => log.error({ err: error }, 'post-sync worker stopped'));
    await created.waitUntilReady();
    // Uploads recorded before a crash (or while the command was off) may have no job yet:
    // arm one (a no-op when none are pending).
    try {
      const timing = await changes.record([], 0);
      if (timing !== undefined) await arm(timing);
    } catch (error) {
      log.warn({ err: error }, 'post-sync command: checking for pending uploads failed');
    }
  }

  /** The worker being closed, so a shutdown during a switch-off waits for the same close. */
  let stopping: Promise<void> = Promise.resolve();

  function stopWorker(): Promise<void> {
    const current = worker;
    worker = undefined;
    if (current !== undefined) stopping = closeWorker(current);
    return stopping;
  }

  /** Settings changes one at a time, so start and stop of the worker never interleave. */
  let updating: Promise<void> = Promise.resolve();

  async function ensureGlobalConcurrency(): Promise<void> {
    // Stored in the queue's meta key: holds for every worker of every daemon on this Redis.
    for (let delayMs = 200; ; delayMs = Math.min(delayMs * 2, 5000)) {
      try {
        await queue.setGlobalConcurrency(1);
        return;
      } catch (error) {
        if (closing !== undefined) return;
        log.debug({ err: error }, 'post-sync queue: waiting for Redis');
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  let closing: Promise<void> | undefined;
  return {
    queue,
    notifyUpload(key) {
      if (settings.enabled) notifier.notify(key);
    },
    flush: () => notifier.flush(),
    async report() {
      try {
        const [pending, runs] = await Promise.all([changes.summary(), history.list()]);
        return { enabled: settings.enabled, pending, runs };
      } catch {
        throw errors.queueUnavailable();
      }
    },
    update(next) {
      // Checked before anything changes, so a bad command never half-applies.
      const nextArgv = argvOf(next);
      const result = updating.then(async () => {
        const wasEnabled = settings.enabled;
        settings = next;
        argv = nextArgv;
        if (!started || closing !== undefined || !runWorker || wasEnabled === next.enabled) return;
        if (next.enabled) {
          log.info('post-sync command enabled: starting its worker');
          await startWorker();
        } else {
          log.info('post-sync command disabled: stopping its worker');
          await stopWorker();
        }
      });
      updating = result.catch(() => undefined);
      return result;
    },
    async start() {
      started = true;
      if (!settings.enabled || !runWorker) return;
      const result = updating.then(startWorker);
      updating = result.catch(() => undefined);
      await result;
    },
    close() {
      closing ??= (async () => {
        // Not waiting for a settings change in progress: it sees `closing` and stops.
        await notifier.close();
        await Promise.all([stopWorker(), closeWithin('post-sync queue', queue, log)]);
        // A cluster connection was handed in as an instance: BullMQ leaves it open.
        if (typeof (options.connection as Cluster).disconnect === 'function') (options.connection as Cluster).disconnect();
      })();
      return closing;
    },
  };

  async function closeWorker(current: Worker<PostSyncJobData, PostSyncResult>): Promise<void> {
    await closeWorkerWithin(
      current,
      { log, work: runner },
      {
        name: 'post-sync worker',
        shutdownTimeoutMs: settings.shutdownTimeoutMs,
        // Stops the command's process group; the run then fails, and is retried with the
        // same changes by whichever daemon is still (or again) running.
        cancel: () => runner.abortAll(),
        cancelled: 'post-sync command still running at shutdown: stopping it',
        ignored: 'post-sync command did not end when stopped: its job runs again once its lock expires',
      },
    );
  }
}

/** The argv to run: `sh -c` with `shell`, else the command's words (throws on a command that cannot be split). */
function argvOf(settings: PostSyncSettings): string[] {
  if (settings.shell) return ['/bin/sh', '-c', settings.command];
  return settings.enabled ? splitCommand(settings.command) : [];
}
