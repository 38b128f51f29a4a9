/** Counters the worker moves; the metrics module implements them with prom-client. */
export interface SyncMetrics {
  uploaded(bytes: number, durationMs: number): void;
  skipped(): void;
  failed(reason: string): void;
}

export const noSyncMetrics: SyncMetrics = { uploaded() {}, skipped() {}, failed() {} };
