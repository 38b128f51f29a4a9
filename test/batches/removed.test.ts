import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, rawConfig, request, startApp, tempDir, writeTree } from '../helpers/daemon.js';
import { waitForBatch } from '../helpers/batches.js';

const REASON = 'removed from the queue in the web UI';

describe('jobs removed in the queue UI before they ran', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('count as failed in their batch, which then ends (as failed); a narinfo whose NAR was removed fails too', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, {
      'abc.narinfo': 'StorePath: /nix/store/abc-x\nURL: nar/abc.nar.xz\n',
      'nar/abc.nar.xz': 'nar',
      'one.txt': '1',
      'two.txt': '2',
    });
    // An API-only daemon runs no worker: the jobs stay queued while the UI removes them.
    const raw = rawConfig(redis, s3, { daemon: { role: 'api' }, publish: { list_remote: false } }, bucket);
    const api = await startApp(raw);
    try {
      const reply = await api.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const id = reply.body.batch_id as string;
      const jobs = await api.app.uploads.getJobs(['waiting', 'delayed', 'prioritized']);
      assert.equal(jobs.length, 4);
      const nar = jobs.find((job) => job.data.s3_key === 'store/nar/abc.nar.xz')!;

      const clean = await request(api.url, 'PUT', `/monitoring/api/queues/uploads/${nar.id}/clean`);
      assert.equal(clean.status, 204, JSON.stringify(clean.body));
      const afterOne = (await api.get(`/batches/${id}`)).body;
      assert.notEqual(afterOne.state, 'done');
      assert.deepEqual(afterOne.failures, [{ s3_key: 'store/nar/abc.nar.xz', reason: REASON }]);

      // A worker joins: the narinfo learns its NAR will never come and fails; the rest upload.
      const worker = await startApp({ ...raw, daemon: { ...raw.daemon, role: 'worker' } });
      try {
        const result = await waitForBatch(api, id, 20_000);
        assert.equal(result.state, 'failed', JSON.stringify(result));
        assert.equal(result.uploaded_files, 2);
        assert.deepEqual(result.failed_files, ['store/abc.narinfo', 'store/nar/abc.nar.xz']);
      } finally {
        await worker.close();
      }

      // Emptying the queue: every waiting job of a second batch is counted, the batch finishes.
      const second = await api.post('/publish', [{ from: src, to: 'again/' }]);
      const emptied = await request(api.url, 'PUT', '/monitoring/api/queues/uploads/empty');
      assert.equal(emptied.status, 200, JSON.stringify(emptied.body));
      const result = await waitForBatch(api, second.body.batch_id, 5000);
      assert.equal(result.state, 'failed');
      assert.equal(result.total_files, 4);
      assert.equal(result.failed_files.length, 4);
      assert.ok(
        result.failures.every((failure: { reason: string }) => failure.reason === REASON),
        JSON.stringify(result.failures),
      );
    } finally {
      await api.close();
    }
  });
});
