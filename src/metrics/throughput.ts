/** Per-second counters of the last minute, kept in process for `GET /stats`. */
export interface ThroughputWindow {
  record(event: 'uploaded' | 'skipped' | 'failed', bytes?: number): void;
  /** Sums over the last `seconds` seconds (the current, partial second included). */
  totals(): ThroughputTotals;
}

export interface ThroughputTotals {
  seconds: number;
  files_uploaded: number;
  bytes_uploaded: number;
  files_skipped: number;
  files_failed: number;
}

interface Slot {
  second: number;
  uploaded: number;
  bytes: number;
  skipped: number;
  failed: number;
}

/**
 * A ring of one slot per second: recording is O(1) and reading sums `seconds` slots, so
 * the window costs the same at 10 files a minute or 10,000. prom-client counters cannot
 * answer "how many in the last minute" without a Prometheus server doing `rate()`.
 */
export function createThroughputWindow(options: { seconds?: number; now?: () => number } = {}): ThroughputWindow {
  const seconds = options.seconds ?? 60;
  const now = options.now ?? Date.now;
  const slots: Slot[] = Array.from({ length: seconds }, () => ({ second: -1, uploaded: 0, bytes: 0, skipped: 0, failed: 0 }));

  function slotFor(second: number): Slot {
    const slot = slots[second % seconds]!;
    if (slot.second !== second) Object.assign(slot, { second, uploaded: 0, bytes: 0, skipped: 0, failed: 0 });
    return slot;
  }

  return {
    record(event, bytes = 0) {
      const slot = slotFor(Math.floor(now() / 1000));
      if (event === 'uploaded') {
        slot.uploaded += 1;
        slot.bytes += bytes;
      } else if (event === 'skipped') slot.skipped += 1;
      else slot.failed += 1;
    },
    totals() {
      const current = Math.floor(now() / 1000);
      const totals: ThroughputTotals = { seconds, files_uploaded: 0, bytes_uploaded: 0, files_skipped: 0, files_failed: 0 };
      for (const slot of slots) {
        if (slot.second <= current - seconds || slot.second > current) continue;
        totals.files_uploaded += slot.uploaded;
        totals.bytes_uploaded += slot.bytes;
        totals.files_skipped += slot.skipped;
        totals.files_failed += slot.failed;
      }
      return totals;
    },
  };
}
