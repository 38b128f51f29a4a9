/**
 * Closing BullMQ objects without ever hanging a shutdown. BullMQ's `close()` waits for
 * ioredis to report its connections ended, and ioredis never reports that for a connection
 * caught between two reconnect attempts (a close moments after a Redis restart parks it
 * there: taskforcesh/bullmq#4656, open in 6.7). A daemon that never exits on SIGTERM, or
 * a test that never ends, is worse than dropping those connections: nothing is lost by it,
 * since a job still held is run again once its lock expires.
 */
import { once } from 'node:events';
import { settlesWithin, withTimeout } from '../timeout.js';
import type { Logger } from '../log/index.js';

/** How long a close may take once nothing it waits for (an upload, a command) still runs. */
export const CLOSE_GRACE_MS = 5000;

/** Work under way (uploads, commands), counted so a shutdown can wait until none runs. */
export interface InFlight {
  /** Runs `work`, counted until it settles. */
  track<T>(work: () => Promise<T>): Promise<T>;
  count(): number;
  /** Resolves once nothing runs. */
  idle(): Promise<void>;
}

export function createInFlight(): InFlight {
  let count = 0;
  let waiters: (() => void)[] = [];
  return {
    async track(work) {
      count += 1;
      try {
        return await work();
      } finally {
        count -= 1;
        if (count === 0) {
          const resolved = waiters;
          waiters = [];
          for (const resolve of resolved) resolve();
        }
      }
    },
    count: () => count,
    idle: () => (count === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve))),
  };
}

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

/** The parts of a BullMQ Worker's internals the workarounds below reach; each may be missing in another release. */
interface WorkerInternals {
  client?: Promise<{ status: string }>;
  backend?: { blockingClient?: Promise<{ status: string; once(event: 'ready', listener: () => void): unknown }> };
  stalledCheckStopper?: () => void;
  lockManager?: { close(): Promise<void> };
}

/**
 * Before closing a BullMQ worker: when its blocking connection is between reconnect
 * attempts, waits up to `ms` for it to be ready again, since closing it there parks it for
 * good (bullmq#4656). A Redis that is back (a close moments after a restart) then closes
 * cleanly; a Redis still down (the main connection is not ready either) is not waited for,
 * and leaves it to `closeWithin`'s fallback.
 */
export async function letBlockingConnectionSettle(worker: object, ms = CLOSE_GRACE_MS): Promise<void> {
  try {
    const internals = worker as WorkerInternals;
    const [main, blocking] = await withTimeout(Promise.all([internals.client, internals.backend?.blockingClient]), 1000);
    // Its main connection down too: Redis is, and there is nothing to wait for.
    if (main?.status !== 'ready' || blocking === undefined) return;
    if (!['reconnecting', 'connecting', 'connect'].includes(blocking.status)) return;
    await once(blocking as unknown as NodeJS.EventEmitter, 'ready', { signal: AbortSignal.timeout(ms) });
  } catch {
    // not ready in time, or not reachable in this BullMQ release: close as it is
  }
}

/**
 * After `closeWithin` gave up on a worker: stops the timers its unfinished close would have
 * stopped (the stalled-job check and the lock renewal), which otherwise run on for ever.
 */
export async function abandonWorker(worker: object): Promise<void> {
  const internals = worker as WorkerInternals;
  internals.stalledCheckStopper?.();
  await internals.lockManager?.close().catch(() => undefined);
}

export interface CloseWorkerOptions {
  /** Names the worker in the log. */
  name: string;
  /** How long running work may go on before it is cancelled. */
  shutdownTimeoutMs: number;
  /** Cancels the running work (its signals, its processes). */
  cancel(): void;
  /** Logged (warn) when running work is cancelled. */
  cancelled: string;
  /** Logged (warn) when cancelled work did not end within `CLOSE_GRACE_MS`. */
  ignored: string;
  /** Closed beside the worker's own close (its QueueEvents reader). */
  beside?: () => Promise<unknown>;
}

/**
 * Closes a BullMQ worker whose jobs run as `work`, never hanging: BullMQ's close waits for
 * the running jobs (a later `close(true)` only returns that same wait), so past
 * `shutdownTimeoutMs` the work is cancelled and gets `CLOSE_GRACE_MS` to end; work that
 * ignores its cancel is left to its lock's expiry (it runs again after the restart). Once
 * nothing runs, BullMQ's close gets `CLOSE_GRACE_MS` (none while cancelled work still holds
 * it), and past that the worker's connections are dropped and its timers stopped.
 */
export async function closeWorkerWithin(
  worker: Closable,
  deps: { log: Logger; work: Pick<InFlight, 'count' | 'idle'> },
  options: CloseWorkerOptions,
): Promise<void> {
  const { log, work } = deps;
  await letBlockingConnectionSettle(worker);
  const closed = worker.close();
  await settlesWithin(Promise.race([closed, work.idle()]), options.shutdownTimeoutMs).catch(() => true);
  const cancelled = work.count() > 0;
  if (cancelled) {
    log.warn({ timeout_ms: options.shutdownTimeoutMs }, options.cancelled);
    options.cancel();
    if (!(await settlesWithin(work.idle(), CLOSE_GRACE_MS))) log.warn(options.ignored);
  }
  const stuck = cancelled && work.count() > 0;
  await Promise.all([
    closeWithin(options.name, worker, log, stuck ? 0 : CLOSE_GRACE_MS, closed).then((ok) => (ok ? undefined : abandonWorker(worker))),
    options.beside?.(),
  ]);
}
