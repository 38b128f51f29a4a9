import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createProgressReporter, progressBar, progressLine, summaryLines } from '../../src/cli/progress.js';
import type { BatchProgress } from '../../src/batches/index.js';

const progress: BatchProgress = {
  batch_id: '00000000-0000-4000-8000-000000000000',
  state: 'running',
  total_files: 10,
  processed_files: 5,
  uploaded_files: 4,
  skipped_files: 1,
  failed_count: 0,
  duration: '1.2s',
  finished: false,
};

describe('progress display', () => {
  it('draws a bar for terminals and a plain line otherwise', () => {
    assert.equal(progressBar(progress), '[############------------]  50% 5/10 files  uploaded 4, skipped 1, failed 0  1.2s');
    assert.equal(progressLine(progress), 'progress: 5/10 files (uploaded 4, skipped 1, failed 0) 1.2s');
    assert.match(progressBar({ ...progress, total_files: 0, processed_files: 0 }), /^\[-{24}\]   0% 0\/0/);
  });

  it('rewrites one line in place on a terminal, ending it once', () => {
    const written: string[] = [];
    const tty = { isTTY: true, columns: 40, write: (text: string) => written.push(text) } as unknown as NodeJS.WriteStream;
    const reporter = createProgressReporter(tty);
    reporter.update(progress);
    reporter.update({ ...progress, processed_files: 10 });
    reporter.finish();
    assert.equal(written.length, 3);
    assert.ok(written[0]!.startsWith('\r[') && written[0]!.endsWith('\u001b[K'));
    assert.ok(written[0]!.length <= 1 + 39 + 3, 'cut to the terminal width');
    assert.equal(written[2], '\n');
  });

  it('summarises a result with each failure and its reason', () => {
    const lines = summaryLines({
      items: [],
      total_files: 3,
      uploaded_files: 1,
      skipped_files: 0,
      failed_files: ['store/a.narinfo', 'store/nar/a.nar.xz'],
      failures: [
        { s3_key: 'store/a.narinfo', reason: 'NAR failed: store/nar/a.nar.xz' },
        { s3_key: 'store/nar/a.nar.xz', reason: 'Access Denied' },
      ],
      duration: '350ms',
      batch_id: progress.batch_id,
      state: 'failed',
      created_at: '',
      finished_at: '',
    });
    assert.deepEqual(lines, [
      'failed: 3 files, 1 uploaded, 0 skipped, 2 failed in 350ms',
      'failed: store/a.narinfo: NAR failed: store/nar/a.nar.xz',
      'failed: store/nar/a.nar.xz: Access Denied',
    ]);
  });
});
