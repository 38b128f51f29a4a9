import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createThroughputWindow } from '../../src/metrics/throughput.js';

describe('throughput window', () => {
  it('sums the last 60 seconds and forgets older ones', () => {
    let now = 1_000_000_000;
    const window = createThroughputWindow({ now: () => now });
    window.record('uploaded', 100);
    window.record('uploaded', 50);
    window.record('skipped');
    now += 30_000;
    window.record('uploaded', 7);
    window.record('failed');
    assert.deepEqual(window.totals(), { seconds: 60, files_uploaded: 3, bytes_uploaded: 157, files_skipped: 1, files_failed: 1 });

    now += 30_000; // the first second is now 60 s old: out of the window
    assert.deepEqual(window.totals(), { seconds: 60, files_uploaded: 1, bytes_uploaded: 7, files_skipped: 0, files_failed: 1 });

    now += 45_000; // its slot is reused for a new second: old counts must not leak in
    window.record('uploaded', 1);
    assert.deepEqual(window.totals(), { seconds: 60, files_uploaded: 1, bytes_uploaded: 1, files_skipped: 0, files_failed: 0 });

    now += 10 * 60_000;
    assert.deepEqual(window.totals(), { seconds: 60, files_uploaded: 0, bytes_uploaded: 0, files_skipped: 0, files_failed: 0 });
  });
});
