import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { startCheckStack } from './fixture.js';

describe('/check when Redis or S3 fail', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('answers from S3 while Redis is down, and caches again once it is back', async () => {
    const stack = await startCheckStack(redis, s3);
    try {
      await stack.put('store/a.narinfo', 'aaa');
      assert.equal((await stack.daemon.get('/check/store/a.narinfo')).body.cached, false);
      assert.equal((await stack.daemon.get('/check/store/a.narinfo')).body.cached, true);

      await redis.stop();
      const started = Date.now();
      const during = await stack.daemon.get('/check/store/a.narinfo');
      assert.equal(during.status, 200);
      assert.deepEqual([during.body.exists, during.body.cached, during.body.size], [true, false, 3]);
      const missing = await stack.daemon.get('/check/store/none.narinfo');
      assert.deepEqual([missing.status, missing.body.exists, missing.body.cached], [200, false, false]);
      const batch = await stack.daemon.post('/check', { keys: ['store/a.narinfo', 'store/none.narinfo'] });
      assert.equal(batch.status, 200);
      assert.deepEqual(
        batch.body.results.map((r: any) => [r.exists, r.cached]),
        [
          [true, false],
          [false, false],
        ],
      );
      assert.ok(Date.now() - started < 5000, 'answered without waiting for Redis');
      const clear = await stack.del('/cache');
      assert.equal(clear.status, 503);
      assert.match(clear.body.error, /cache unavailable/);
      const headsDuringOutage = stack.heads('store/a.narinfo');

      await redis.start();
      // The first check after the reconnect stores the entry; a later one is a hit.
      await waitFor(async () => (await stack.daemon.get('/check/store/a.narinfo')).body.cached === true, {
        timeoutMs: 15_000,
        intervalMs: 200,
        what: 'caching to resume',
      });
      const heads = stack.heads('store/a.narinfo');
      const hit = await stack.daemon.get('/check/store/a.narinfo');
      assert.deepEqual([hit.body.exists, hit.body.cached], [true, true]);
      assert.equal(stack.heads('store/a.narinfo'), heads, 'no HEAD once cached again');
      assert.ok(headsDuringOutage >= 3, 'every check during the outage asked S3');
    } finally {
      await stack.close();
    }
  });

  it('answers 503 when S3 is down, never a false "missing", and recovers', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { s3_timeout_seconds: 10 } });
    try {
      await stack.put('store/b.narinfo', 'bb');
      await s3.stop();
      try {
        const reply = await stack.daemon.get('/check/store/b.narinfo');
        assert.equal(reply.status, 503, JSON.stringify(reply.body));
        assert.match(reply.body.error, /^storage unavailable: /);
        const batch = await stack.daemon.post('/check', { keys: ['store/b.narinfo'] });
        assert.equal(batch.status, 503);
      } finally {
        await s3.start();
      }
      assert.equal(await stack.redis.exists(stack.entryKey('store/b.narinfo')), 0, 'the failure was not cached');
      const after = await stack.daemon.get('/check/store/b.narinfo');
      assert.deepEqual([after.status, after.body.exists, after.body.size], [200, true, 2]);

      stack.proxy.mode = 'refuse';
      const refused = await stack.daemon.get('/check/store/c.narinfo');
      assert.equal(refused.status, 503);
      assert.match(refused.body.error, /^storage unavailable: /);
    } finally {
      await stack.close();
    }
  });

  it('gives up on a hung S3 after cache.s3_timeout_seconds, queueing for a HEAD slot included', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { s3_timeout_seconds: 1, max_concurrent_s3_checks: 1 } });
    try {
      await stack.put('store/slow.narinfo', 'slow');
      stack.proxy.mode = 'hang';
      // One HEAD slot: the second check waits 0.7 s for the slot, which counts against its
      // deadline, so it answers 1 s after it was asked, not 0.7 s + 1 s.
      const timed = async (path: string) => {
        const started = performance.now();
        const reply = await stack.daemon.get(path);
        return { ...reply, elapsed: performance.now() - started };
      };
      const first = timed('/check/store/slow.narinfo');
      // The first check holds the slot once its HEAD reached the (hanging) proxy. The second
      // is asked 0.3 s later (the scenario, not a wait for an event): it gets the slot 0.7 s
      // after it was asked and spends its last 0.3 s on a HEAD of its own.
      await waitFor(() => stack.heads('store/slow.narinfo') === 1, { timeoutMs: 5000, intervalMs: 10, what: 'the first HEAD' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const replies = await Promise.all([first, timed('/check/store/other.narinfo')]);
      for (const reply of replies) {
        assert.equal(reply.status, 503);
        assert.equal(reply.body.error, 'storage unavailable: no answer within 1 s');
        assert.ok(reply.elapsed >= 900, `waited for the timeout (${reply.elapsed} ms)`);
        assert.ok(reply.elapsed < 1500, `no second timeout spent queueing (${reply.elapsed} ms)`);
      }

      stack.proxy.mode = 'pass';
      const reply = await stack.daemon.get('/check/store/slow.narinfo');
      assert.deepEqual([reply.status, reply.body.exists], [200, true], 'the hung HEAD left no trace in the cache');
      const registry = stack.daemon.app.metrics.registry;
      const errors = (await registry.getSingleMetric('sync4loong_check_s3_heads_total')!.get()).values.find(
        (v) => v.labels.outcome === 'error',
      );
      assert.equal(errors?.value, stack.proxy.count('HEAD') - 1, 'every hung HEAD counts as an error');
    } finally {
      await stack.close();
    }
  });
});
