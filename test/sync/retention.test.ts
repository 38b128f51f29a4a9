import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';

describe('retention of finished upload jobs', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('is applied by the worker, so queued jobs carry no retention options', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'A', 'nar/b.nar.xz': 'BB' });
    const keep = await startApp(rawConfig(redis, s3, { publish: { keep_completed_hours: 1 } }, bucket));
    try {
      await keep.post('/publish', [{ from: src, to: 'store/' }]);
      await keep.idle();
      const completed = await keep.app.uploads.getCompleted();
      assert.equal(completed.length, 2, 'kept for an hour');
      for (const job of completed) {
        assert.equal(job.opts.removeOnComplete, undefined, 'no per-job retention stored');
        assert.equal(job.opts.removeOnFail, undefined);
        assert.equal(job.opts.attempts, 4, 'retries still per job');
      }
    } finally {
      await keep.close();
    }

    const drop = await startApp(rawConfig(redis, s3, { publish: { keep_completed_hours: 0 } }, bucket));
    try {
      await drop.post('/publish', [{ from: src, to: 'other/' }]);
      await drop.idle();
      // 0 hours: each job is removed as it completes.
      await waitFor(async () => (await drop.app.uploads.getJobCounts('completed')).completed === 0, { what: 'completed jobs removed' });
    } finally {
      await drop.close();
    }
  });
});
