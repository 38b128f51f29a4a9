import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Queue } from 'bullmq';
import { UPLOAD_QUEUE } from '../../src/queue/index.js';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { createBucket, listKeys, rawConfig, request, startApp, startDaemonProcess, tempDir, writeTree } from '../helpers/daemon.js';

describe('shutdown with uploads still running', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: Proxy;
  useServers((servers) => ({ redis, s3, proxy } = servers), startProxy);

  it('cancels them at daemon.shutdown_timeout_seconds and hands their jobs back without spending an attempt', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'A', 'nar/b.nar.xz': 'BB' });
    const raw = rawConfig(
      redis,
      { ...s3, endpoint: proxy.endpoint },
      // The S3 requests' own idle timeout (300 s by default) is far away: only the shutdown ends them.
      { daemon: { shutdown_timeout_seconds: 0.5 }, publish: { list_remote: false } },
      bucket,
    );
    proxy.mode = 'hang';
    const first = await startApp(raw);
    let closed = false;
    try {
      const reply = await first.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      await waitFor(async () => (await first.app.uploads.getJobCounts('active')).active === 2 && proxy.inFlight === 2, {
        what: 'both uploads to hang at the proxy',
      });
      const start = performance.now();
      await first.close();
      closed = true;
      const took = performance.now() - start;
      // 0.5 s of shutdown timeout, then the cancelled uploads end at once (5 s of grace at most).
      assert.ok(took < 4000, `shutdown took ${Math.round(took)} ms`);
    } finally {
      if (!closed) await first.close();
    }

    const queue = new Queue(UPLOAD_QUEUE, { connection: { host: '127.0.0.1', port: redis.port }, prefix: raw.redis!.key_prefix as string });
    try {
      const counts = await queue.getJobCounts('active', 'failed', 'completed');
      assert.deepEqual(counts, { active: 0, failed: 0, completed: 0 }, 'handed back, not failed and not left active');
      const queued = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
      assert.equal(queued.length, 2);
      for (const job of queued) assert.equal(job.attemptsMade, 0, 'a cancelled upload spends no attempt');
    } finally {
      await queue.close();
    }

    proxy.mode = 'pass';
    const second = await startApp(raw);
    try {
      await second.idle();
      assert.deepEqual(await listKeys(s3, bucket), ['store/a.narinfo', 'store/nar/b.nar.xz']);
    } finally {
      await second.close();
    }
  });
});

describe('shutdown while Redis is down', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  // BullMQ's close waits for ioredis to report its connections ended, which a connection
  // between two reconnect attempts never does (bullmq#4656): before the bounded close,
  // SIGTERM here left the daemon running for ever (and a close just after a Redis restart,
  // the same, now and then).
  it('exits on SIGTERM within the close grace, its BullMQ workers and queues dropped', async () => {
    const raw = rawConfig(redis, s3, { daemon: { enable_ssh_task: true, ssh_command: 'true' } }, await createBucket(s3));
    const daemon = await startDaemonProcess(raw);
    try {
      await redis.stop();
      await waitFor(async () => ((await request(daemon.url, 'GET', '/readyz')).status === 503 ? true : undefined), {
        what: '/readyz to report Redis down',
      });
      const start = performance.now();
      // Within 30 s, or the helper kills it and fails the test with its output.
      const code = await daemon.stop('SIGTERM', 30_000);
      const took = performance.now() - start;
      assert.equal(code, 0, daemon.output());
      // The upload worker and its event reader, then both queues, each get 5 s at most, side by side.
      assert.ok(took < 20_000, `shutdown took ${Math.round(took)} ms: ${daemon.output()}`);
      assert.match(daemon.output(), /close did not finish in time .*what="?upload worker/);
      assert.match(daemon.output(), /msg="daemon stopped"/);
    } finally {
      await daemon.stop('SIGKILL');
      await redis.start();
    }
  });
});
