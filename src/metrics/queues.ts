import { Gauge, type Registry } from 'prom-client';
import { withTimeout } from '../timeout.js';

/** Job states reported per queue, in BullMQ's names. */
export const QUEUE_JOB_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
export type QueueJobState = (typeof QUEUE_JOB_STATES)[number];

/** The part of a BullMQ queue the scrape reads (a `Queue` fits). */
export interface JobCountSource {
  readonly name: string;
  getJobCounts(...states: QueueJobState[]): Promise<Record<string, number>>;
  isPaused(): Promise<boolean>;
}

export interface QueueMetricsOptions {
  /** A scrape never waits longer than this for Redis. */
  timeoutMs: number;
  onError(error: unknown): void;
}

/**
 * `sync4loong_queue_jobs{queue,state}` and `sync4loong_queue_paused{queue}`, read from Redis
 * on each scrape (one pipelined call per queue), so they count the jobs of every daemon
 * sharing the queue. When Redis does not answer, the series are left out of that scrape
 * (absent, not stale) and the rest of `/metrics` still answers.
 */
export function registerQueueMetrics(registry: Registry, queues: () => readonly JobCountSource[], options: QueueMetricsOptions): void {
  /** Runs `read` for every queue at once; a queue whose read fails or times out is left out. */
  async function eachQueue(read: (queue: JobCountSource) => Promise<void>): Promise<void> {
    await Promise.all(queues().map((queue) => read(queue).catch((error: unknown) => options.onError(error))));
  }
  new Gauge({
    name: 'sync4loong_queue_jobs',
    help: 'Jobs in each queue by state (read from Redis at scrape time).',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await eachQueue(async (queue) => {
        const counts = await withTimeout(queue.getJobCounts(...QUEUE_JOB_STATES), options.timeoutMs);
        for (const state of QUEUE_JOB_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      });
    },
  });
  new Gauge({
    name: 'sync4loong_queue_paused',
    help: '1 when the queue is paused (for example from the queue UI), else 0.',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      await eachQueue(async (queue) => {
        this.set({ queue: queue.name }, (await withTimeout(queue.isPaused(), options.timeoutMs)) ? 1 : 0);
      });
    },
  });
}
