/** `daemon.role`: what an api-only and a worker-only daemon serve and run. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, writeTree, type TestApp } from '../helpers/daemon.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';

describe('daemon roles', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('a worker serves only health, readiness, metrics and stats', async () => {
    const worker = await startApp(rawConfig(redis, s3, { daemon: { role: 'worker' } }, await createBucket(s3)));
    try {
      for (const path of ['/healthz', '/readyz', '/metrics', '/stats']) assert.equal((await worker.get(path)).status, 200, path);
      assert.equal((await worker.get('/readyz')).body.role, 'worker');
      assert.equal((await worker.post('/publish', [{ from: '/tmp', to: 'x/' }])).status, 404);
      for (const path of ['/hooks/runs', '/monitoring', '/monitoring/api/queues']) assert.equal((await worker.get(path)).status, 404, path);
      assert.equal(await worker.app.uploads.getWorkersCount(), 1, 'its upload worker is connected');
    } finally {
      await worker.close();
    }
  });

  it('an api daemon enqueues and runs no worker; a worker daemon on the same Redis uploads', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'a', 'nar/a.nar.xz': 'aa', 'b.narinfo': 'b' });
    const raw = rawConfig(redis, s3, {}, bucket);
    const api = await startApp({ ...raw, daemon: { ...raw.daemon, role: 'api' } });
    try {
      assert.equal((await api.get('/readyz')).body.role, 'api');
      assert.equal((await api.get('/monitoring')).status, 200, 'the queue UI is part of the API');
      const reply = await api.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200);
      assert.equal(reply.body.total_files, 3);
      assert.equal(await api.app.uploads.getWorkersCount(), 0, 'no upload worker connected');
      assert.deepEqual(await api.app.uploads.getJobCounts('waiting', 'active', 'completed'), { waiting: 3, active: 0, completed: 0 });

      const worker = await startApp({ ...raw, daemon: { ...raw.daemon, role: 'worker' } });
      try {
        await api.idle();
        assert.deepEqual(await listKeys(s3, bucket), ['store/a.narinfo', 'store/b.narinfo', 'store/nar/a.nar.xz']);
        // Who uploaded: every file went through the worker daemon, none through the api one.
        const uploaded = async (app: TestApp) =>
          sampleValue(parsePrometheusText((await app.get('/metrics')).body as string), 'sync4loong_files_total', { outcome: 'uploaded' });
        assert.equal(await uploaded(worker), 3);
        assert.equal(await uploaded(api), 0);
      } finally {
        await worker.close();
      }
    } finally {
      await api.close();
    }
  });
});
