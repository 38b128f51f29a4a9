/**
 * Fault tests (`npm run test:faults`): real processes, real signals. Each proves the fault
 * overlapped the work (some but not all objects present when it struck), then that every
 * file landed byte for byte and no local file was deleted without an exact copy.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis, startS3, waitFor, type RedisServer, type S3Server } from '../test/helpers/servers.js';
import { createBucket, listKeys, rawConfig, request, startDaemonProcess, type DaemonProcess } from '../test/helpers/daemon.js';
import { nixFixture, report, uploadQueue, verify } from '../test/helpers/nix-fixture.js';
import { startProxy } from '../test/helpers/proxy.js';

const FILES = 2000;

describe('fault tests', () => {
  let s3: S3Server;
  before(async () => {
    s3 = await startS3();
  });
  after(async () => {
    await s3.destroy();
  });

  async function setUp(redis: RedisServer, overrides: Record<string, Record<string, unknown>> = {}, endpoint = s3.endpoint) {
    const bucket = await createBucket(s3);
    const fixture = await nixFixture(FILES);
    const raw = rawConfig(
      redis,
      { ...s3, endpoint },
      {
        daemon: { concurrency: 8, job_lock_seconds: 3, ...overrides.daemon },
        publish: { max_retry: 2, retry_backoff_seconds: 0.5, ...overrides.publish },
      },
      bucket,
    );
    return { bucket, fixture, raw, prefix: raw.redis!.key_prefix as string };
  }

  async function publish(url: string, root: string) {
    const reply = await request(url, 'POST', '/publish', [{ from: root, to: 'store/', delete_after_sync: true }]);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.total_files, FILES);
  }

  async function someButNotAll(bucket: string, atLeast = 50): Promise<number> {
    await waitFor(async () => (await listKeys(s3, bucket)).length >= atLeast, { timeoutMs: 60_000, what: 'first uploads' });
    return (await listKeys(s3, bucket)).length;
  }

  /** Runs `step`; when it fails, its error ends with the end of the daemon's output. */
  async function explained<T>(daemon: DaemonProcess, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      if (error instanceof Error) error.message += `\ndaemon output ends:\n${daemon.output().slice(-4000)}`;
      throw error;
    }
  }

  async function finish(name: string, redis: RedisServer, bucket: string, fixture: Awaited<ReturnType<typeof nixFixture>>, prefix: string) {
    const queue = uploadQueue(redis.addr, prefix);
    let counts: Record<string, number>;
    try {
      counts = (await waitFor(
        async () => {
          const now = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
          return now.waiting === 0 && now.active === 0 && now.delayed === 0 ? now : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 250, what: 'queue to drain' },
      ))!;
    } finally {
      await queue.close();
    }
    const verdict = await verify(s3, bucket, fixture, 'store/');
    report(name, verdict);
    assert.equal(counts.failed, 0, 'no job ran out of attempts');
    assert.equal(verdict.lost, 0);
    assert.equal(verdict.deletedWithoutCopy, 0);
  }

  it('(a) kill -9 of the daemon mid-publish, then restart', async () => {
    const redis = await startRedis({ appendonly: true });
    try {
      const { bucket, fixture, raw, prefix } = await setUp(redis);
      const first = await startDaemonProcess(raw);
      await publish(first.url, fixture.root);
      const present = await someButNotAll(bucket);
      await first.stop('SIGKILL');
      assert.ok(present < FILES, `the kill overlapped the work (${present} of ${FILES} present)`);
      const second = await startDaemonProcess(raw);
      try {
        await explained(second, () => finish('kill -9', redis, bucket, fixture, prefix));
      } finally {
        await second.stop();
      }
    } finally {
      await redis.destroy();
    }
  });

  it('(b) redis-server stopped mid-run (AOF on) and restarted', async () => {
    const redis = await startRedis({ appendonly: true });
    try {
      const { bucket, fixture, raw, prefix } = await setUp(redis);
      const daemon = await startDaemonProcess(raw);
      try {
        await publish(daemon.url, fixture.root);
        const present = await someButNotAll(bucket);
        await redis.stop();
        assert.ok(present < FILES, `the outage overlapped the work (${present} of ${FILES} present)`);
        const refused = await request(daemon.url, 'POST', '/publish', [{ from: fixture.root, to: 'other/' }]);
        assert.equal(refused.status, 503, 'publishing during the outage answers 503');
        await redis.start();
        await explained(daemon, () => finish('redis restart', redis, bucket, fixture, prefix));
      } finally {
        await daemon.stop();
      }
    } finally {
      await redis.destroy();
    }
  });

  // The outage is made at a proxy in front of s3rver: s3rver itself does not survive being
  // stopped mid-write (a torn metadata file makes every later listing of the bucket fail).
  it('(c) S3 server down for 30 s mid-run: no job runs out of attempts', async () => {
    const redis = await startRedis({ appendonly: true });
    const proxy = await startProxy(s3.port);
    try {
      // One retry with a short backoff: without riding out the outage, jobs would fail for good.
      const { bucket, fixture, raw, prefix } = await setUp(
        redis,
        { publish: { max_retry: 1, retry_backoff_seconds: 0.2 } },
        proxy.endpoint,
      );
      const daemon = await startDaemonProcess(raw);
      try {
        await publish(daemon.url, fixture.root);
        const present = await someButNotAll(bucket);
        await proxy.down();
        const stoppedAt = Date.now();
        assert.ok(present < FILES, `the outage overlapped the work (${present} of ${FILES} present)`);
        await explained(daemon, () =>
          waitFor(() => /storage unreachable/.test(daemon.output()), { what: 'the daemon to notice the outage' }),
        );
        await waitFor(() => Date.now() - stoppedAt >= 30_000, { timeoutMs: 40_000, intervalMs: 500, what: '30 s of outage' });
        await proxy.up();
        await explained(daemon, () => finish('S3 down 30 s', redis, bucket, fixture, prefix));
      } finally {
        await daemon.stop();
      }
    } finally {
      await proxy.close();
      await redis.destroy();
    }
  });
});
