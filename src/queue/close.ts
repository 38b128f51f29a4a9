/**
 * Closing BullMQ objects without ever hanging a shutdown. BullMQ's `close()` waits for
 * ioredis to report its connections ended, and ioredis never reports that for a connection
 * caught between two reconnect attempts (a close moments after a Redis restart parks it
 * there: taskforcesh/bullmq#4656, open in 6.7). A daemon that never exits on SIGTERM, or
 * a test that never ends, is worse than dropping those connections: nothing is lost by it,
 * since a job still held is run again once its lock expires.
 */
import { settlesWithin } from '../timeout.js';
import type { Logger } from '../log/index.js';

/** How long a close may take once nothing it waits for (an upload, a command) still runs. */
export const CLOSE_GRACE_MS = 5000;

/** A BullMQ Worker, Queue or QueueEvents. */
export interface Closable {
  close(): Promise<void>;
  disconnect(): Promise<void>;
}

/**
 * Waits up to `ms` for `closing` (the target's `close()`, already called); past that,
 * drops the target's connections without waiting on them either, and warns naming `what`.
 * Resolves whether it closed in time; never rejects.
 */
export async function closeWithin(
  what: string,
  target: Closable,
  log: Logger,
  ms = CLOSE_GRACE_MS,
  closing = target.close(),
): Promise<boolean> {
  const closed = await settlesWithin(closing, ms).catch((error: unknown) => {
    log.debug({ err: error, what }, 'close failed');
    return true;
  });
  if (closed) return true;
  log.warn({ what, timeout_ms: ms }, 'close did not finish in time (a Redis connection stuck reconnecting): connections dropped');
  // Not awaited beyond a moment: BullMQ's disconnect waits on the same stuck connection.
  await settlesWithin(target.disconnect(), 100).catch(() => true);
  return false;
}
