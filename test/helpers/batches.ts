/** Batch helpers for tests: wait for a batch to finish, count the jobs a daemon holds. */
import type { App } from '../../src/app.js';
import { waitFor } from './servers.js';

export async function waitForBatch(base: { get(path: string): Promise<{ status: number; body: any }> }, id: string, timeoutMs = 60_000) {
  return waitFor(
    async () => {
      const reply = await base.get(`/batches/${id}`);
      return reply.status === 200 && (reply.body.state === 'done' || reply.body.state === 'failed') ? reply.body : undefined;
    },
    { timeoutMs, intervalMs: 100, what: `batch ${id} to finish` },
  );
}

/** Every job the queue holds, in any state. */
export async function jobCount(app: App): Promise<number> {
  const counts = await app.uploads.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'waiting-children');
  return Object.values(counts).reduce((sum, count) => sum + count, 0);
}
