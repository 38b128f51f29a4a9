import type { Logger } from '../log/index.js';
import type { ChangeSet, PendingTiming } from './changes.js';

/**
 * The upload path's side of the post-sync command. `notify` only touches memory, so it
 * never fails and never delays an upload; a background flush records what was uploaded
 * in Redis (one script call per batch, not per file) and re-arms the debounced job. When
 * Redis hiccups the batch is kept (names up to the bound, the count always) and the
 * flush is tried again.
 */
export interface UploadNotifier {
  notify(key: string): void;
  /** Records everything notified so far and re-arms the job (tests, shutdown). */
  flush(): Promise<void>;
  /** A last flush; what cannot be recorded then is logged as lost. Idempotent. */
  close(): Promise<void>;
}

export interface UploadNotifierOptions {
  /** Notifications within this window go to Redis together. */
  coalesceMs: number;
  /** Wait before trying a failed flush again. */
  retryMs: number;
  /** Most key names buffered in memory (the count keeps counting past it). */
  maxKeys: number;
}

export function createUploadNotifier(
  deps: { changes: ChangeSet; arm: (timing: PendingTiming) => Promise<void>; log: Logger },
  options: UploadNotifierOptions,
): UploadNotifier {
  const { log } = deps;
  let keys: string[] = [];
  let count = 0;
  /** Recorded in Redis but the job was not (re-)armed yet. */
  let armPending = false;
  let timer: NodeJS.Timeout | undefined;
  let flushing: Promise<void> | undefined;
  let failing = false;
  let closed = false;

  function schedule(delayMs: number) {
    if (timer !== undefined || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, delayMs);
  }

  /** One pass: record the buffer, then arm. Returns false when Redis refused. */
  async function flushOnce(): Promise<boolean> {
    while (count > 0 || armPending) {
      let timing: PendingTiming | undefined;
      const batchKeys = keys;
      const batchCount = count;
      keys = [];
      count = 0;
      try {
        timing = await deps.changes.record(batchKeys, batchCount);
      } catch (error) {
        keys = batchKeys.concat(keys).slice(0, options.maxKeys);
        count += batchCount;
        reportFailure(error, 'recording uploads for the post-sync command failed; will retry');
        return false;
      }
      // No timing: a run has just taken everything pending, so nothing needs arming.
      armPending = timing !== undefined;
      if (timing === undefined) continue;
      try {
        await deps.arm(timing);
        armPending = false;
      } catch (error) {
        reportFailure(error, 'scheduling the post-sync command failed; will retry');
        return false;
      }
    }
    if (failing) {
      failing = false;
      log.info('post-sync command scheduling recovered');
    }
    return true;
  }

  function reportFailure(error: unknown, message: string) {
    // One warning per outage, not one per retry.
    if (!failing) log.warn({ err: error, uploads_buffered: count }, message);
    else log.debug({ err: error }, message);
    failing = true;
  }

  function flush(): Promise<void> {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    flushing ??= flushOnce()
      .then((ok) => {
        if (!ok) schedule(options.retryMs);
      })
      .finally(() => {
        flushing = undefined;
        // Notifications that arrived during the flush get their own.
        if (count > 0) schedule(options.coalesceMs);
      });
    return flushing;
  }

  let closing: Promise<void> | undefined;
  return {
    notify(key) {
      count += 1;
      if (keys.length < options.maxKeys) keys.push(key);
      if (flushing === undefined) schedule(options.coalesceMs);
    },
    async flush() {
      await flushing;
      await flush();
    },
    close() {
      closing ??= (async () => {
        await flushing;
        closed = true;
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        await flush();
        if (count > 0 || armPending) {
          log.warn({ uploads: count, arm_pending: armPending }, 'post-sync command not told about some uploads at shutdown');
        }
      })();
      return closing;
    },
  };
}
