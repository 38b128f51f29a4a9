import type { Logger } from '../log/index.js';

/** Node and SDK error codes that mean "the storage did not answer", not "the request was wrong". */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
  'ENOTFOUND',
  'TimeoutError',
  'RequestTimeout',
  'ServiceUnavailable',
  'SlowDown',
  'InternalError',
]);

/** Whether an error looks like the storage being unreachable or overloaded. */
export function isUnreachableError(error: unknown): boolean {
  const e = error as { code?: string; name?: string; $metadata?: { httpStatusCode?: number }; cause?: unknown };
  if (e === null || typeof e !== 'object') return false;
  if ((e.code && UNREACHABLE.has(e.code)) || (e.name && UNREACHABLE.has(e.name))) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === 502 || status === 503 || status === 504) return true;
  return e.cause !== undefined && e.cause !== error && isUnreachableError(e.cause);
}

export interface OutageGate {
  /**
   * Resolves once the storage answers again (one shared probe loop for every waiting
   * upload), or rejects when `signal` aborts.
   */
  waitUntilReachable(signal: AbortSignal): Promise<void>;
  /**
   * Whether the storage answers right now. Any answer counts, an error reply too (a 403 for
   * a key without `s3:ListBucket`, a 500 from a broken bucket): only a storage that cannot
   * be reached holds uploads back; the others fail and retry as usual, where they are seen.
   */
  reachable(): Promise<boolean>;
}

/** While uploads wait, how often the outage is logged again (with the probe's last error). */
const STILL_WAITING_LOG_MS = 60_000;

/**
 * Rides out storage outages without spending retry attempts: an upload that fails because
 * the storage is down waits here, then tries again within the same attempt.
 */
export function createOutageGate(
  deps: { ping: (signal: AbortSignal) => Promise<void>; log: Logger },
  options: { probeIntervalMs: number; probeTimeoutMs?: number },
): OutageGate {
  let recovery: Promise<void> | undefined;

  /** Undefined when the storage answered; else the error that says it could not be reached. */
  async function probe(): Promise<unknown> {
    const signal = AbortSignal.timeout(options.probeTimeoutMs ?? 5000);
    try {
      await deps.ping(signal);
      return undefined;
    } catch (error) {
      // No answer in time counts as unreachable, whatever shape the cancelled call's error has.
      if (!signal.aborted && !isUnreachableError(error)) return undefined;
      deps.log.debug({ err: error, status: statusOf(error) }, 'storage probe failed');
      return error;
    }
  }

  function probeUntilUp(): Promise<void> {
    recovery ??= (async () => {
      const since = Date.now();
      let logged = since;
      deps.log.warn('storage unreachable: uploads wait for it');
      for (let error = await probe(); error !== undefined; error = await probe()) {
        if (Date.now() - logged >= STILL_WAITING_LOG_MS) {
          logged = Date.now();
          deps.log.warn(
            { outage_ms: logged - since, err: error, status: statusOf(error) },
            'storage still unreachable: uploads wait for it',
          );
        }
        await new Promise((resolve) => setTimeout(resolve, options.probeIntervalMs));
      }
      deps.log.warn({ outage_ms: Date.now() - since }, 'storage reachable again: uploads resume');
    })().finally(() => {
      recovery = undefined;
    });
    return recovery;
  }

  return {
    reachable: async () => (await probe()) === undefined,
    waitUntilReachable(signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal.aborted) return reject(signal.reason);
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        probeUntilUp().then(
          () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(error);
          },
        );
      });
    },
  };
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}
