import { Counter, Gauge, type Registry } from 'prom-client';
import type { ThrottleMetrics, ThrottleStats } from '../throttle/index.js';

/**
 * `sync4loong_upload_concurrency_limit`, `sync4loong_throttled_responses_total` and the
 * time spent waiting on the bandwidth cap and the request rate (docs/monitoring.md).
 */
export function createThrottleMetrics(registry: Registry): ThrottleMetrics {
  let source: (() => ThrottleStats) | undefined;
  let bytesWaitReported = 0;
  let requestsWaitReported = 0;
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
  new Counter({
    name: 'sync4loong_upload_bandwidth_wait_seconds_total',
    help: 'Time uploads spent waiting on daemon.max_upload_bytes_per_second, summed over uploads.',
    registers: [registry],
    collect() {
      if (source === undefined) return;
      const total = source().bytes_wait_seconds;
      this.inc(Math.max(0, total - bytesWaitReported));
      bytesWaitReported = Math.max(total, bytesWaitReported);
    },
  });
  new Counter({
    name: 'sync4loong_upload_request_rate_wait_seconds_total',
    help: 'Time upload requests spent waiting on daemon.max_requests_per_second, summed over requests.',
    registers: [registry],
    collect() {
      if (source === undefined) return;
      const total = source().requests_wait_seconds;
      this.inc(Math.max(0, total - requestsWaitReported));
      requestsWaitReported = Math.max(total, requestsWaitReported);
    },
  });
  return {
    throttled: (code) => throttled.inc({ code }),
    watch(stats) {
      source = stats;
    },
  };
}
