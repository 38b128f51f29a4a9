/**
 * The queue web UI (asynqmon's role): bull-board mounted under `asynqmon.root_path`.
 * bull-board renders the page and its JSON API; this module decides where it lives, which
 * queues it shows, and enforces read-only mode.
 */
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { JobType, Queue } from 'bullmq';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import { errors } from '../errors.js';
import type { Logger } from '../log/index.js';
import { readSetting, type Setting } from '../setting.js';

export interface QueueUiOptions {
  /** URL path of the UI (`asynqmon.root_path`), for example `/monitoring`. */
  rootPath: string;
  /**
   * `asynqmon.read_only_mode`: hide every write action and refuse every write request.
   * Read on every request, so a reloaded config switches it at once.
   */
  readOnly: Setting<boolean>;
}

export interface QueueUiDeps {
  /** Every queue of the daemon, in display order. */
  queues: readonly Queue[];
  /**
   * Hooks run before anything else under `rootPath` (page, static files and API alike):
   * where authentication puts itself in front of the UI.
   */
  guards?: readonly onRequestHookHandler[];
  /**
   * Told of the jobs a write action of the UI removed before they had run (clean of a job
   * or of a waiting state, empty, obliterate), once bull-board has removed them and before
   * the reply: where their batches learn that those jobs will never run.
   */
  onRemoved?: (queue: Queue, jobs: RemovedJob[]) => Promise<void>;
  log?: Logger;
}

export interface RemovedJob {
  id: string;
  data: unknown;
}

/** States of jobs that have not run to an outcome yet (`active` ones are running). */
const NOT_RUN: readonly JobType[] = ['waiting', 'prioritized', 'delayed', 'waiting-children'];

/** Jobs read per request while noting what a bulk action may remove. */
const PAGE = 1000;

/**
 * Which jobs a bull-board write route may remove before they ran: one job, the jobs in
 * some states, or none (routes that remove finished jobs only, or remove nothing).
 */
function removalScope(route: string, params: Record<string, string | undefined>): { jobId: string } | { states: JobType[] } | undefined {
  if (route.endsWith('/api/queues/:queueName/:jobId/clean') && params.jobId !== undefined) return { jobId: params.jobId };
  if (route.endsWith('/api/queues/:queueName/clean/:queueStatus')) {
    // A paused queue keeps its jobs in the wait list.
    const state = (params.queueStatus === 'wait' || params.queueStatus === 'paused' ? 'waiting' : params.queueStatus) as JobType;
    return NOT_RUN.includes(state) ? { states: [state] } : undefined;
  }
  if (route.endsWith('/api/queues/:queueName/empty')) return { states: [...NOT_RUN] };
  if (route.endsWith('/api/queues/:queueName/obliterate')) return { states: [...NOT_RUN, 'active'] };
  return undefined;
}

/** The jobs in `scope` now (a job removed meanwhile, or moved on, is checked again after). */
async function jobsIn(queue: Queue, scope: { jobId: string } | { states: JobType[] }): Promise<RemovedJob[]> {
  if ('jobId' in scope) {
    const job = await queue.getJob(scope.jobId);
    return job?.id === undefined ? [] : [{ id: job.id, data: job.data }];
  }
  const found: RemovedJob[] = [];
  for (const state of scope.states) {
    for (let start = 0; ; start += PAGE) {
      const page = await queue.getJobs([state], start, start + PAGE - 1, true);
      for (const job of page) if (job?.id !== undefined) found.push({ id: job.id, data: job.data });
      if (page.length < PAGE) break;
    }
  }
  return found;
}

/** Of `jobs`, those no longer in the queue. */
async function gone(queue: Queue, jobs: RemovedJob[]): Promise<RemovedJob[]> {
  const result: RemovedJob[] = [];
  for (let start = 0; start < jobs.length; start += PAGE) {
    const chunk = jobs.slice(start, start + PAGE);
    const states = await Promise.all(chunk.map((job) => queue.getJobState(job.id)));
    chunk.forEach((job, index) => {
      if (states[index] === 'unknown') result.push(job);
    });
  }
  return result;
}

/** Methods that only read: everything else is a write action of the UI's API. */
const READ_METHODS = new Set(['GET', 'HEAD']);

/** The mount prefix: `/monitoring/` and `/monitoring` mount at `/monitoring`, `/` at the root. */
export function uiPrefix(rootPath: string): string {
  return rootPath.replace(/\/+$/, '');
}

/** Mounts the UI (page, static assets, JSON API) under `options.rootPath`. */
export function registerQueueUi(app: FastifyInstance, deps: QueueUiDeps, options: QueueUiOptions): void {
  const prefix = uiPrefix(options.rootPath);
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(prefix === '' ? '/' : prefix);
  // readOnlyMode hides the buttons and makes bull-board answer 405 to per-queue actions;
  // the hook below also refuses the board-wide ones (pause all, resume all).
  const adapters = (readOnlyMode: boolean) => deps.queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode }));
  let boardReadOnly = readSetting(options.readOnly);
  const board = createBullBoard({
    queues: adapters(boardReadOnly),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'sync4loong', hideDocsLink: true } },
  });

  void app.register(
    async (scope) => {
      for (const guard of deps.guards ?? []) scope.addHook('onRequest', guard);
      scope.addHook('onRequest', async (request, reply) => {
        const readOnly = readSetting(options.readOnly);
        if (readOnly !== boardReadOnly) {
          // bull-board reads each adapter's mode per request and the page asks for it on
          // every poll: swapping the adapters shows or hides the buttons without a restart.
          board.replaceQueues(adapters(readOnly));
          boardReadOnly = readOnly;
        }
        // Enforced here, before bull-board sees the request, so no write route of any
        // bull-board version can slip through: reads only, whatever the path.
        if (!readOnly || READ_METHODS.has(request.method)) return;
        const refusal = errors.readOnlyMode();
        return reply.code(refusal.statusCode).send({ error: refusal.message });
      });
      if (deps.onRemoved !== undefined) watchRemovals(scope, deps.queues, deps.onRemoved, deps.log);
      await scope.register(serverAdapter.registerPlugin());
    },
    { prefix },
  );
}

/**
 * Notes the jobs a removing write action may take before bull-board runs it, and reports
 * those it did take once it answered success. bull-board tells nothing of what it removed,
 * and BullMQ's `removed` event carries no job data: the jobs are read here beforehand.
 */
function watchRemovals(
  scope: FastifyInstance,
  queues: readonly Queue[],
  onRemoved: NonNullable<QueueUiDeps['onRemoved']>,
  log: Logger | undefined,
): void {
  const noted = new WeakMap<FastifyRequest, { queue: Queue; jobs: RemovedJob[] }>();
  scope.addHook('preHandler', async (request) => {
    if (READ_METHODS.has(request.method)) return;
    const params = (request.params ?? {}) as Record<string, string | undefined>;
    const scopeOf = removalScope(request.routeOptions.url ?? '', params);
    const queue = queues.find((candidate) => candidate.name === params.queueName);
    if (scopeOf === undefined || queue === undefined) return;
    try {
      noted.set(request, { queue, jobs: await jobsIn(queue, scopeOf) });
    } catch (error) {
      log?.warn({ err: error, queue: queue.name }, 'could not note the jobs a queue UI action removes: their batches keep waiting');
    }
  });
  scope.addHook('onSend', async (request, reply, payload) => {
    const before = noted.get(request);
    if (before === undefined || reply.statusCode >= 300 || before.jobs.length === 0) return payload;
    try {
      const removed = await gone(before.queue, before.jobs);
      if (removed.length > 0) {
        await onRemoved(before.queue, removed);
        log?.info({ queue: before.queue.name, jobs: removed.length }, 'jobs removed in the queue UI');
      }
    } catch (error) {
      log?.warn(
        { err: error, queue: before.queue.name },
        'could not report the jobs a queue UI action removed: their batches keep waiting',
      );
    }
    return payload;
  });
}
