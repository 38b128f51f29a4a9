/** Throttling answers of the storage (503 SlowDown, 429 + Retry-After): AIMD concurrency, pauses, no attempt spent. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { startFaultProxy, type FaultProxy, type LoggedRequest } from '../helpers/fault-proxy.js';
import { waitForBatch } from '../helpers/batches.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, writeTree, type TestApp } from '../helpers/daemon.js';

function smallFiles(count: number, prefix: string): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${String(i).padStart(3, '0')}.narinfo`, `${prefix}${i}`]));
}

function metric(text: string, name: string): number {
  const match = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return match === null ? NaN : Number(match[1]);
}

/** Every upload job of the daemon's queue ran once: attempts made, by job. */
async function attemptsOfCompletedJobs(daemon: TestApp): Promise<number[]> {
  const jobs = await daemon.app.uploads.getJobs(['completed'], 0, -1);
  return jobs.map((job) => job.attemptsMade);
}

/** Requests arriving per second between two times (ms, `performance.now()`). */
function arrivalRate(log: LoggedRequest[], from: number, to: number): number {
  const count = log.filter((entry) => entry.startTime >= from && entry.startTime < to).length;
  return count / ((to - from) / 1000);
}

describe('throttling answers of the storage', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: FaultProxy;
  useServers((servers) => ({ redis, s3, proxy } = servers), startFaultProxy);

  it('503 SlowDown above 20 requests/s: no failed job, no attempt spent, the limit drops, the rate settles near 20, then the limit recovers', async (t) => {
    const N = 20;
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, smallFiles(240, 'slow-'));
    const daemon = await startApp(
      rawConfig(
        redis,
        { ...s3, endpoint: proxy.endpoint },
        { daemon: { concurrency: 16, throttle_recovery_successes: 5 }, publish: { max_retry: 1 } },
        bucket,
      ),
    );
    try {
      const limit = proxy.limitRate({ perSecond: N });
      const first = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      // Read while it runs: the limit is lowered.
      await waitFor(async () => metric((await daemon.get('/metrics')).body, 'sync4loong_upload_concurrency_limit') < 16, {
        timeoutMs: 20_000,
        what: 'the concurrency limit to drop in /metrics',
      });
      const result = await waitForBatch(daemon, first.body.batch_id, 40_000);
      assert.equal(result.state, 'done', JSON.stringify(result));
      assert.equal(result.uploaded_files, 240);
      assert.deepEqual(result.failed_files, []);
      limit.remove();

      const attempts = await attemptsOfCompletedJobs(daemon);
      assert.equal(attempts.length, 240);
      assert.deepEqual([...new Set(attempts)], [1], 'every job completed in its first attempt');
      const rejected = proxy.log.filter((entry) => entry.injected && entry.status === 503);
      assert.ok(rejected.length > 0, 'the proxy did throttle');

      // The rate settles: from 2 s after the first refusal to the batch's last request.
      const batchRequests = proxy.log.filter((entry) => entry.key.startsWith('store/slow-'));
      const from = rejected[0]!.startTime + 2000;
      const to = batchRequests.at(-1)!.startTime;
      assert.ok(to - from > 4000, `a steady phase of ${((to - from) / 1000).toFixed(1)} s to measure`);
      const rate = arrivalRate(proxy.log, from, to);
      const refusedShare =
        rejected.filter((entry) => entry.startTime >= from).length / batchRequests.filter((e) => e.startTime >= from).length;
      t.diagnostic(
        `requests/s at the proxy ${rate.toFixed(1)}, refused ${(refusedShare * 100).toFixed(1)} %, ${rejected.length} refusals in all`,
      );
      assert.ok(rate >= 0.6 * N && rate <= 1.4 * N, `settled at ${rate.toFixed(1)} requests/s for a storage allowing ${N}`);

      const history = (await daemon.get('/stats')).body.throttle.history as Array<{ from: number; to: number; reason: string }>;
      const decreases = history.filter((change) => change.reason === 'throttled');
      t.diagnostic(`limit changes: ${history.map((change) => `${change.to}${change.reason === 'throttled' ? 'v' : '^'}`).join(' ')}`);
      // Halved at each episode of refusals (about once a second), never below 1; the history keeps the last 50 changes.
      assert.ok(decreases.length >= 3, JSON.stringify(history));
      assert.ok(
        decreases.every((change) => change.to === Math.max(1, Math.floor(change.from / 2))),
        JSON.stringify(decreases),
      );
      assert.ok(Math.min(...decreases.map((change) => change.to)) <= 4, JSON.stringify(decreases));

      // Without the rule, successes bring the limit back to 16.
      const more = await tempDir();
      await writeTree(more, smallFiles(80, 'fast-'));
      const second = await daemon.post('/publish', [{ from: more, to: 'store/' }]);
      const done = await waitForBatch(daemon, second.body.batch_id, 30_000);
      assert.equal(done.state, 'done', JSON.stringify(done));
      const stats = (await daemon.get('/stats')).body.throttle;
      assert.equal(stats.concurrency_limit, 16, JSON.stringify(stats));
      assert.equal(stats.history.at(-1).reason, 'recovered');
      const metrics = (await daemon.get('/metrics')).body as string;
      assert.equal(metric(metrics, 'sync4loong_upload_concurrency_limit'), 16);
      assert.equal(metric(metrics, 'sync4loong_throttled_responses_total{code="SlowDown"}'), rejected.length);
      assert.equal((await listKeys(s3, bucket)).length, 320);
    } finally {
      await daemon.close();
    }
  });

  it('max_requests_per_second = 20 holds upload requests near 20/s at the storage; /check is not held back', async (t) => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, smallFiles(80, 'rq-'));
    const daemon = await startApp(
      rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { daemon: { concurrency: 16, max_requests_per_second: 20 } }, bucket),
    );
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      await waitFor(async () => (await daemon.get('/stats')).body.throttle.requests_wait_seconds > 1, {
        what: 'uploads to wait on the request rate',
      });
      const checkStarted = performance.now();
      const check = await daemon.get('/check?key=store/not-there.narinfo');
      const checkMs = performance.now() - checkStarted;
      assert.equal(check.status, 200);
      assert.equal(check.body.exists, false);
      assert.ok(checkMs < 1000, `/check answered in ${checkMs.toFixed(0)} ms while uploads queued for requests`);
      assert.ok(
        proxy.log.some((entry) => entry.method === 'HEAD' && entry.key === 'store/not-there.narinfo'),
        '/check asked the storage',
      );
      const result = await waitForBatch(daemon, reply.body.batch_id, 30_000);
      assert.equal(result.state, 'done', JSON.stringify(result));
      const uploads = proxy.log.filter((entry) => entry.key.startsWith('store/rq-')).map((entry) => entry.startTime);
      assert.equal(uploads.length, 80, 'one PUT per file (the listing stood in for HEADs)');
      // In any second, the rate plus the burst (a quarter second of it): 25-26 measured on
      // an idle machine. Requests granted on time can still reach the proxy bunched when the
      // event loop stalls (30 seen at a load of 10 on 2 cores), so the bound leaves room for
      // half a second more; without the limit all 80 go within a second.
      let busiest = 0;
      for (const start of uploads) busiest = Math.max(busiest, uploads.filter((time) => time >= start && time < start + 1000).length);
      const rate = (uploads.length - 1) / ((uploads.at(-1)! - uploads[0]!) / 1000);
      t.diagnostic(`upload requests/s ${rate.toFixed(1)}, busiest second ${busiest}`);
      assert.ok(busiest <= 36, `${busiest} requests in one second`);
      assert.ok(rate >= 14 && rate <= 23, `${rate.toFixed(1)} requests/s`);
    } finally {
      await daemon.close();
    }
  });

  it('a SlowDown to a multipart part, retried by the SDK itself, is still seen: counted, paused for, no attempt spent', async (t) => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'mp.nar': randomBytes(12 * 1024 * 1024) });
    // The first part PUT is refused (parts are PUTs of the object's key with ?partNumber=...).
    proxy.addRule({ method: 'PUT', key: 'store/mp.nar', fail: 503, code: 'SlowDown', times: 1 });
    const daemon = await startApp(
      rawConfig(
        redis,
        { ...s3, endpoint: proxy.endpoint },
        { s3: { multipart_threshold_mb: 5, part_size_mb: 5 }, daemon: { throttle_pause_seconds: 1.5 } },
        bucket,
      ),
    );
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      const result = await waitForBatch(daemon, reply.body.batch_id, 20_000);
      assert.equal(result.state, 'done', JSON.stringify(result));
      assert.deepEqual([...new Set(await attemptsOfCompletedJobs(daemon))], [1]);
      const refused = proxy.log.find((entry) => entry.key === 'store/mp.nar' && entry.status === 503)!;
      assert.ok(refused !== undefined);
      const stats = (await daemon.get('/stats')).body.throttle;
      assert.equal(stats.throttled_responses, 1, 'the SDK retried it, the daemon saw it');
      assert.equal(stats.history[0]?.reason, 'throttled');
      const offsets = proxy.log
        .filter((entry) => entry.key === 'store/mp.nar' && entry.startTime > refused.endTime!)
        .map((entry) => Math.round(entry.startTime - refused.endTime!));
      t.diagnostic(`requests after the SlowDown, ms: ${offsets.join(' ')}`);
      assert.deepEqual(
        offsets.filter((offset) => offset > 300 && offset < 1400),
        [],
        'no request between 0.3 s and 1.4 s after it',
      );
      assert.ok(
        offsets.some((offset) => offset >= 1400),
        'the refused part went again after the pause',
      );
    } finally {
      await daemon.close();
    }
  });

  it('429 with Retry-After: 2: no upload request reaches the storage for 2 s, and the job spends no attempt', async (t) => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, smallFiles(12, 'ra-'));
    proxy.addRule({
      method: 'PUT',
      key: 'store/ra-003.narinfo',
      fail: 429,
      code: 'TooManyRequests',
      headers: { 'retry-after': '2' },
      times: 1,
    });
    const daemon = await startApp(rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { daemon: { concurrency: 4 } }, bucket));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      const result = await waitForBatch(daemon, reply.body.batch_id, 20_000);
      assert.equal(result.state, 'done', JSON.stringify(result));
      assert.equal(result.uploaded_files, 12);
      assert.deepEqual([...new Set(await attemptsOfCompletedJobs(daemon))], [1]);
      const refused = proxy.log.find((entry) => entry.key === 'store/ra-003.narinfo' && entry.status === 429);
      assert.ok(refused !== undefined, 'the 429 was answered');
      // Requests other uploads had sent before the 429 reached the daemon may still arrive just after it;
      // from then on, none until Retry-After has passed.
      const offsets = proxy.log
        .filter((entry) => entry.key.startsWith('store/ra-') && entry.startTime > refused.endTime!)
        .map((entry) => Math.round(entry.startTime - refused.endTime!));
      t.diagnostic(`requests after the 429, ms: ${offsets.join(' ')}`);
      assert.ok(
        offsets.some((offset) => offset >= 1900),
        'requests came after it',
      );
      assert.deepEqual(
        offsets.filter((offset) => offset > 300 && offset < 1900),
        [],
        'no request between 0.3 s and 1.9 s after the 429',
      );
      const stats = (await daemon.get('/stats')).body.throttle;
      assert.equal(stats.throttled_responses, 1);
    } finally {
      await daemon.close();
    }
  });
});
