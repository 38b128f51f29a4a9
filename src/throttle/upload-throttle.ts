import type { Logger } from '../log/index.js';
import type { Pacing } from '../storage/index.js';
import { throttlingCode, retryAfterMs, type StorageAnswer } from './answers.js';
import { systemClock, type Clock } from './clock.js';
import { createConcurrencyController, type ConcurrencySettings, type LimitChange } from './concurrency.js';
import { createTokenBucket, type TokenBucketSettings } from './token-bucket.js';

export interface ThrottleSettings {
  /** `daemon.max_upload_bytes_per_second`; 0: no cap. */
  maxBytesPerSecond: number;
  /** `daemon.max_requests_per_second`; 0: no limit. */
  maxRequestsPerSecond: number;
  /** `daemon.throttle_pause_seconds` in ms: the pause after a throttling answer without `Retry-After`. */
  pauseMs: number;
  concurrency: ConcurrencySettings;
}

/** `/stats`' `throttle` object (docs/http-api.md). */
export interface ThrottleStats {
  concurrency_limit: number;
  concurrency_max: number;
  concurrency_min: number;
  /** Throttling answers (429, 503 SlowDown, Retry-After) seen since start. */
  throttled_responses: number;
  /** How long upload requests still wait for a `Retry-After` or a pause, in ms (0: none). */
  paused_ms: number;
  max_upload_bytes_per_second: number;
  /** Time uploads spent waiting on the bandwidth cap, summed over uploads, in seconds. */
  bytes_wait_seconds: number;
  max_requests_per_second: number;
  requests_wait_seconds: number;
  /** The last changes of the concurrency limit, oldest first. */
  history: Array<{ time: string; from: number; to: number; reason: LimitChange['reason'] }>;
}

/** What the metrics module implements (src/metrics/throttle.ts). */
export interface ThrottleMetrics {
  throttled(code: string): void;
  /** Read on every scrape. */
  watch(stats: () => ThrottleStats): void;
}

export interface UploadThrottle extends Pacing {
  /** The upload concurrency in force (the worker runs this many uploads at most). */
  limit(): number;
  onLimitChange(listener: (limit: number) => void): void;
  /** An upload succeeded (additive recovery). */
  succeeded(): void;
  /** Resolves once no `Retry-After` or pause holds requests back (an upload refused for throttling then tries again). */
  waitUntilClear(signal?: AbortSignal): Promise<void>;
  update(settings: ThrottleSettings): void;
  stats(): ThrottleStats;
}

/** A `Retry-After` longer than this is honoured for this long only (a wrong header must not stall the daemon for hours). */
export const MAX_PAUSE_MS = 5 * 60_000;
/** Decreases are logged at most this often (the lines in between are counted in the next one). */
const DECREASE_LOG_MS = 10_000;
const HISTORY_LENGTH = 50;
const KiB = 1024;

/**
 * The bucket of the bandwidth cap: half a second of the rate saved up at most (64 KiB
 * at least), granted in slices of up to 256 KiB in turns across uploads.
 */
export function byteBucketSettings(rate: number): TokenBucketSettings {
  const burst = Math.max(64 * KiB, Math.floor(rate / 2));
  return { rate, burst, slice: Math.min(256 * KiB, burst) };
}

/** The bucket of the request rate: a quarter second of requests at most (1 at least). */
export function requestBucketSettings(rate: number): TokenBucketSettings {
  return { rate, burst: Math.max(1, Math.floor(rate / 4)), slice: 1 };
}

/**
 * One per daemon: the bandwidth cap and request rate shared by all uploads (fair: FIFO
 * slices), the `Retry-After` pause, and the AIMD concurrency limit.
 */
export function createUploadThrottle(
  deps: { log: Logger; metrics?: ThrottleMetrics; clock?: Clock },
  initial: ThrottleSettings,
): UploadThrottle {
  const { log } = deps;
  const clock = deps.clock ?? systemClock;
  let settings = initial;
  const bytes = createTokenBucket(byteBucketSettings(initial.maxBytesPerSecond), clock);
  const requests = createTokenBucket(requestBucketSettings(initial.maxRequestsPerSecond), clock);
  const concurrency = createConcurrencyController(initial.concurrency, clock);
  let pausedUntil = 0;
  let throttledCount = 0;
  const history: ThrottleStats['history'] = [];
  let lastDecreaseLog = -Infinity;
  let unloggedDecreases = 0;
  let answersSinceLog = 0;
  const limitListeners: Array<(limit: number) => void> = [];

  concurrency.onChange((change) => {
    history.push({ time: new Date().toISOString(), ...change });
    if (history.length > HISTORY_LENGTH) history.shift();
    for (const listener of limitListeners) listener(change.to);
    logChange(change);
  });

  function logChange(change: LimitChange): void {
    const fields = { from: change.from, to: change.to, max: settings.concurrency.max };
    if (change.reason === 'throttled') {
      const now = clock.now();
      if (now - lastDecreaseLog < DECREASE_LOG_MS) {
        unloggedDecreases += 1;
        return;
      }
      log.info(
        { ...fields, throttling_answers: answersSinceLog, decreases_not_logged: unloggedDecreases },
        'storage throttling: upload concurrency lowered',
      );
      lastDecreaseLog = now;
      unloggedDecreases = 0;
      answersSinceLog = 0;
    } else if (change.reason === 'recovered' && change.to >= settings.concurrency.max) {
      log.info(fields, 'storage throttling over: upload concurrency recovered');
    } else {
      log.debug({ ...fields, reason: change.reason }, 'upload concurrency changed');
    }
  }

  async function waitUntilClear(signal?: AbortSignal): Promise<void> {
    for (let left = pausedUntil - clock.now(); left > 0; left = pausedUntil - clock.now()) await clock.sleep(left, signal);
  }

  return {
    bytes: (count, signal) => bytes.take(count, signal),
    async request(signal) {
      await waitUntilClear(signal);
      await requests.take(1, signal);
      // A Retry-After may have come while this one waited for its turn.
      await waitUntilClear(signal);
    },
    answered(answer: StorageAnswer) {
      const code = throttlingCode(answer);
      if (code === undefined) return;
      throttledCount += 1;
      answersSinceLog += 1;
      deps.metrics?.throttled(code);
      const pause = Math.min(MAX_PAUSE_MS, retryAfterMs(answer.retryAfter) ?? settings.pauseMs);
      pausedUntil = Math.max(pausedUntil, clock.now() + pause);
      concurrency.throttled();
    },
    limit: () => concurrency.limit(),
    onLimitChange(listener) {
      limitListeners.push(listener);
    },
    succeeded: () => concurrency.succeeded(),
    waitUntilClear,
    update(next) {
      settings = next;
      bytes.update(byteBucketSettings(next.maxBytesPerSecond));
      requests.update(requestBucketSettings(next.maxRequestsPerSecond));
      concurrency.update(next.concurrency);
    },
    stats: () => ({
      concurrency_limit: concurrency.limit(),
      concurrency_max: settings.concurrency.max,
      concurrency_min: Math.min(settings.concurrency.min, settings.concurrency.max),
      throttled_responses: throttledCount,
      paused_ms: Math.max(0, Math.round(pausedUntil - clock.now())),
      max_upload_bytes_per_second: settings.maxBytesPerSecond,
      bytes_wait_seconds: bytes.waitedMs() / 1000,
      max_requests_per_second: settings.maxRequestsPerSecond,
      requests_wait_seconds: requests.waitedMs() / 1000,
      history: history.map((entry) => ({ ...entry })),
    }),
  };
}
