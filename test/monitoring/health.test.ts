import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, rawConfig, startApp } from '../helpers/daemon.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';

describe('GET /healthz and /readyz', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('/readyz turns 503 naming redis while Redis is stopped, answering at once, and 200 when it is back', async () => {
    const daemon = await startApp(rawConfig(redis, s3, {}, await createBucket(s3)));
    try {
      assert.deepEqual((await daemon.get('/healthz')).body, { status: 'ok' });
      const ready = await daemon.get('/readyz');
      assert.equal(ready.status, 200);
      const { status, checks, role } = ready.body;
      assert.deepEqual({ status, checks, role }, { status: 'ready', checks: { redis: 'ok', storage: 'ok' }, role: 'all' });

      await redis.stop();
      try {
        // A hang would show here as a much longer wait than the 3 s probe limit.
        const started = Date.now();
        const down = (await waitFor(
          async () => {
            const reply = await daemon.get('/readyz');
            return reply.status === 503 ? reply : undefined;
          },
          { timeoutMs: 10_000, what: '/readyz to report Redis down' },
        ))!;
        assert.ok(Date.now() - started < 10_000);
        assert.equal(down.body.status, 'unavailable');
        assert.deepEqual(down.body.failed, ['redis']);
        assert.match(down.body.checks.redis, /^unavailable: /);
        assert.equal(down.body.checks.storage, 'ok');
        assert.equal((await daemon.get('/healthz')).status, 200, 'the process itself is alive');

        // /metrics still answers, without the queue series it cannot read; /stats says why.
        const metrics = await fetch(`${daemon.url}/metrics`);
        assert.equal(metrics.status, 200);
        const families = parsePrometheusText(await metrics.text());
        assert.equal(sampleValue(families, 'sync4loong_queue_jobs', { queue: 'uploads', state: 'waiting' }), undefined);
        assert.notEqual(sampleValue(families, 'sync4loong_files_total', { outcome: 'uploaded' }), undefined);
        const stats = await daemon.get('/stats');
        assert.equal(stats.status, 503);
        assert.match(stats.body.error, /Redis is not reachable/);
      } finally {
        await redis.start();
      }
      const back = (await waitFor(
        async () => {
          const reply = await daemon.get('/readyz');
          return reply.status === 200 ? reply : undefined;
        },
        { timeoutMs: 15_000, what: '/readyz to recover' },
      ))!;
      assert.deepEqual({ status: back.body.status, checks: back.body.checks }, { status: 'ready', checks: { redis: 'ok', storage: 'ok' } });
      assert.equal((await daemon.get('/stats')).status, 200);
    } finally {
      await daemon.close();
    }
  });

  it('/readyz names the storage when S3 is down', async () => {
    const daemon = await startApp(rawConfig(redis, s3, {}, await createBucket(s3)));
    try {
      await s3.stop();
      try {
        const down = await daemon.get('/readyz');
        assert.equal(down.status, 503);
        assert.deepEqual(down.body.failed, ['storage']);
        assert.equal(down.body.checks.redis, 'ok');
        assert.match(down.body.checks.storage, /^unavailable: .+/);
      } finally {
        await s3.start();
      }
      assert.equal((await daemon.get('/readyz')).status, 200);
    } finally {
      await daemon.close();
    }
  });

  it('/readyz names a missing bucket', async () => {
    const daemon = await startApp(rawConfig(redis, s3, {}, 'no-such-bucket'));
    try {
      const down = await daemon.get('/readyz');
      assert.equal(down.status, 503);
      assert.deepEqual(down.body.failed, ['storage']);
      assert.match(down.body.checks.storage, /404/);
    } finally {
      await daemon.close();
    }
  });
});
