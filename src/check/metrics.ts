/** Counters `/check` moves; `src/metrics/` implements them with prom-client. */
export interface CheckMetrics {
  /** A check answered from the Redis cache. */
  hit(): void;
  /** A check that found no usable cache entry (missing, expired, or Redis unreachable). */
  miss(): void;
  /** One S3 HEAD finished: the object was found, is missing, or the HEAD failed or timed out. */
  head(outcome: 'found' | 'missing' | 'error'): void;
}

export const noCheckMetrics: CheckMetrics = { hit() {}, miss() {}, head() {} };
