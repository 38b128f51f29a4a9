import pLimit from 'p-limit';
import type { Logger } from '../log/index.js';
import { errors } from '../errors.js';
import type { ObjectInfo, Storage } from '../storage/index.js';
import type { CheckMetrics } from './metrics.js';

export interface HeadLimiterOptions {
  /** `cache.max_concurrent_s3_checks`: HEADs in flight at once. */
  maxConcurrent: number;
  /** `cache.s3_timeout_seconds` in ms: the whole wait, queueing for a slot included. */
  timeoutMs: number;
}

export interface HeadLimiter {
  /**
   * Size of the object (null when it does not exist), or a 503 `AppError` when the storage
   * fails or does not answer in time. Never turns a failure into "missing".
   */
  head(key: string): Promise<ObjectInfo | null>;
  /** Abandons every HEAD in flight or waiting (shutdown). */
  close(): void;
}

function failureName(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown; $metadata?: { httpStatusCode?: number } };
  if (typeof e.code === 'string') return e.code;
  if (typeof e.$metadata?.httpStatusCode === 'number') return `HTTP ${e.$metadata.httpStatusCode}`;
  return typeof e.name === 'string' ? e.name : 'error';
}

/** HEADs for `/check`: a bounded number at once, each with a deadline. */
export function createHeadLimiter(
  deps: { storage: Pick<Storage, 'head'>; metrics: CheckMetrics; log: Logger },
  options: HeadLimiterOptions,
): HeadLimiter {
  const limit = pLimit(options.maxConcurrent);
  // The deadlines of every HEAD in flight or waiting, aborted at shutdown. A set rather
  // than a listener each on one shutdown signal: 1,000 keys of one POST /check would be
  // 1,000 listeners (MaxListenersExceededWarning).
  const pending = new Set<AbortController>();
  let closed = false;
  const seconds = options.timeoutMs / 1000;

  function head(key: string): Promise<ObjectInfo | null> {
    return new Promise((resolve, reject) => {
      const deadline = new AbortController();
      const timer = setTimeout(() => deadline.abort(), options.timeoutMs);
      const giveUp = () => {
        finish();
        if (closed) return reject(errors.storageUnavailable('the daemon is shutting down'));
        deps.log.warn({ s3_key: key, timeout_s: seconds }, 'storage check timed out');
        reject(errors.storageUnavailable(`no answer within ${seconds} s`));
      };
      function finish() {
        clearTimeout(timer);
        pending.delete(deadline);
        deadline.signal.removeEventListener('abort', giveUp);
      }
      if (closed) return giveUp();
      pending.add(deadline);
      deadline.signal.addEventListener('abort', giveUp, { once: true });

      void limit(async () => {
        // The deadline passed while this waited for a slot: the caller has its 503 already.
        if (deadline.signal.aborted) return;
        try {
          const info = await deps.storage.head(key, { signal: deadline.signal });
          deps.metrics.head(info === null ? 'missing' : 'found');
          resolve(info);
        } catch (error) {
          deps.metrics.head('error');
          if (!deadline.signal.aborted) {
            deps.log.warn({ err: error, s3_key: key }, 'storage check failed');
            reject(errors.storageUnavailable(`HEAD failed (${failureName(error)})`));
          }
        } finally {
          finish();
        }
      });
    });
  }

  return {
    head,
    close() {
      closed = true;
      for (const deadline of [...pending]) deadline.abort();
    },
  };
}
