import { Counter, Gauge, type Registry } from 'prom-client';
import type { ThrottleMetrics, ThrottleStats } from '../throttle/index.js';

/**
 * `sync4loong_upload_concurrency_limit`, `sync4loong_throttled_responses_total` and the
 * time spent waiting on the bandwidth cap and the request rate (docs/monitoring.md).
 */
export function createThrottleMetrics(registry: Registry): ThrottleMetrics {
  let source: (() => ThrottleStats) | undefined;
  new Gauge({
    name: 'sync4loong_upload_concurrency_limit',
    help: 'Uploads this daemon runs at once now: daemon.concurrency, lowered by throttling answers of the storage (AIMD).',
    registers: [registry],
    collect() {
      if (source !== undefined) this.set(source().concurrency_limit);
    },
  });
  const throttled = new Counter({
    name: 'sync4loong_throttled_responses_total',
    help: 'Throttling answers of the storage to uploads (429, 503 SlowDown, Retry-After), by S3 error code.',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  // Zero series for the usual codes, so rate() and alerts work before the first one.
  for (const code of ['SlowDown', 'TooManyRequests']) throttled.inc({ code }, 0);
  /** A counter that follows a running total of the throttle's stats, adding only its increase. */
  const followTotal = (name: string, help: string, total: (stats: ThrottleStats) => number) => {
    let reported = 0;
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        if (source === undefined) return;
        const now = total(source());
        this.inc(Math.max(0, now - reported));
        reported = Math.max(now, reported);
      },
    });
  };
  followTotal(
    'sync4loong_upload_bandwidth_wait_seconds_total',
    'Time uploads spent waiting on daemon.max_upload_bytes_per_second, summed over uploads.',
    (stats) => stats.bytes_wait_seconds,
  );
  followTotal(
    'sync4loong_upload_request_rate_wait_seconds_total',
    'Time upload requests spent waiting on daemon.max_requests_per_second, summed over requests.',
    (stats) => stats.requests_wait_seconds,
  );
  return {
    throttled: (code) => throttled.inc({ code }),
    watch(stats) {
      source = stats;
    },
  };
}
