import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, writeTree, type TestApp } from '../helpers/daemon.js';
import { parsePrometheusText, sampleValue, type MetricFamily } from '../helpers/prometheus.js';
import { GONE_REASON, publishVanishingFile } from './jobs.js';

async function scrape(daemon: TestApp): Promise<Map<string, MetricFamily>> {
  const response = await fetch(`${daemon.url}/metrics`);
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await response.text());
}

function value(families: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}): number {
  const found = sampleValue(families, name, labels);
  assert.notEqual(found, undefined, `${name}${JSON.stringify(labels)} is exported`);
  return found!;
}

/** Differences of selected samples between two scrapes. */
function delta(before: Map<string, MetricFamily>, after: Map<string, MetricFamily>, name: string, labels: Record<string, string> = {}) {
  return value(after, name, labels) - (sampleValue(before, name, labels) ?? 0);
}

describe('GET /metrics', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('is valid Prometheus text, every name prefixed sync4loong_, with the documented families', async () => {
    const daemon = await startApp(rawConfig(redis, s3, {}, await createBucket(s3)));
    try {
      const families = await scrape(daemon);
      for (const name of families.keys()) assert.match(name, /^sync4loong_/);
      const expected: Record<string, MetricFamily['type']> = {
        sync4loong_queue_jobs: 'gauge',
        sync4loong_queue_paused: 'gauge',
        sync4loong_files_total: 'counter',
        sync4loong_uploaded_bytes_total: 'counter',
        sync4loong_upload_duration_seconds: 'histogram',
        sync4loong_storage_errors_total: 'counter',
        sync4loong_storage_operation_duration_seconds: 'histogram',
        sync4loong_process_cpu_seconds_total: 'counter',
        sync4loong_process_resident_memory_bytes: 'gauge',
        sync4loong_nodejs_eventloop_lag_seconds: 'gauge',
      };
      for (const [name, type] of Object.entries(expected)) {
        assert.equal(families.get(name)?.type, type, `${name} is a ${type}`);
        assert.notEqual(families.get(name)?.help, '', `${name} has help`);
      }
      for (const state of ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed']) {
        assert.equal(value(families, 'sync4loong_queue_jobs', { queue: 'uploads', state }), 0);
      }
      assert.equal(value(families, 'sync4loong_queue_paused', { queue: 'uploads' }), 0);
      for (const operation of ['head', 'put_file', 'list', 'ping']) {
        assert.equal(value(families, 'sync4loong_storage_errors_total', { operation }), 0);
      }
    } finally {
      await daemon.close();
    }
  });

  it('counters move by the right amounts after uploads, skips and a failure', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'x'.repeat(10), 'nar/a.nar.xz': 'y'.repeat(20), 'nix-cache-info': 'z'.repeat(30) });
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      const start = await scrape(daemon);
      assert.equal((await daemon.post('/publish', [{ from: src, to: 'store/' }])).status, 200);
      await daemon.idle();
      const uploaded = await scrape(daemon);
      assert.equal(delta(start, uploaded, 'sync4loong_files_total', { outcome: 'uploaded' }), 3);
      assert.equal(delta(start, uploaded, 'sync4loong_files_total', { outcome: 'skipped' }), 0);
      assert.equal(delta(start, uploaded, 'sync4loong_uploaded_bytes_total'), 60);
      assert.equal(delta(start, uploaded, 'sync4loong_upload_duration_seconds_count'), 3);
      assert.equal(value(uploaded, 'sync4loong_upload_duration_seconds_bucket', { le: '+Inf' }), 3);
      assert.ok(value(uploaded, 'sync4loong_upload_duration_seconds_sum') > 0);
      assert.equal(delta(start, uploaded, 'sync4loong_storage_operation_duration_seconds_count', { operation: 'put_file' }), 3);
      // The folder's destination was listed once, and proved empty: no HEAD was needed.
      assert.equal(delta(start, uploaded, 'sync4loong_storage_operation_duration_seconds_count', { operation: 'list' }), 1);
      assert.equal(value(uploaded, 'sync4loong_queue_jobs', { queue: 'uploads', state: 'completed' }), 3);

      // The same folder again: same sizes in the bucket, so three skips (found at publish) and no bytes.
      assert.equal((await daemon.post('/publish', [{ from: src, to: 'store/' }])).status, 200);
      await daemon.idle();
      const skipped = await scrape(daemon);
      assert.equal(delta(uploaded, skipped, 'sync4loong_files_total', { outcome: 'skipped' }), 3);
      assert.equal(delta(uploaded, skipped, 'sync4loong_files_total', { outcome: 'uploaded' }), 0);
      assert.equal(delta(uploaded, skipped, 'sync4loong_uploaded_bytes_total'), 0);

      await publishVanishingFile(daemon, src, 'store/gone.narinfo');
      const failed = await scrape(daemon);
      assert.equal(delta(skipped, failed, 'sync4loong_files_total', { outcome: 'failed' }), 1);
      assert.equal(value(failed, 'sync4loong_queue_jobs', { queue: 'uploads', state: 'failed' }), 1);
      // The re-publish enqueued nothing: only the first publish's jobs completed.
      assert.equal(value(failed, 'sync4loong_queue_jobs', { queue: 'uploads', state: 'completed' }), 3);

      await daemon.app.uploads.pause();
      assert.equal(value(await scrape(daemon), 'sync4loong_queue_paused', { queue: 'uploads' }), 1);
      await daemon.app.uploads.resume();
    } finally {
      await daemon.close();
    }
  });

  it('counts storage errors by operation while S3 is down, and the upload completes once it is back', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'late.narinfo': 'late' });
    const daemon = await startApp(rawConfig(redis, s3, { publish: { max_retry: 10 } }, bucket));
    try {
      const start = await scrape(daemon);
      await s3.stop();
      try {
        const ready = await daemon.get('/readyz');
        assert.equal(ready.status, 503);
        assert.equal((await daemon.post('/publish', [{ from: src, to: 'store/' }])).status, 200);
        await waitFor(async () => delta(start, await scrape(daemon), 'sync4loong_storage_errors_total', { operation: 'head' }) >= 1, {
          what: 'a failed HEAD to be counted',
        });
      } finally {
        await s3.start();
      }
      await daemon.idle();
      const end = await scrape(daemon);
      assert.ok(delta(start, end, 'sync4loong_storage_errors_total', { operation: 'ping' }) >= 1, 'the failed readiness ping counts');
      assert.equal(delta(start, end, 'sync4loong_storage_errors_total', { operation: 'put_file' }), 0);
      assert.equal(delta(start, end, 'sync4loong_files_total', { outcome: 'uploaded' }), 1);
      assert.deepEqual(await listKeys(s3, bucket), ['store/late.narinfo']);
    } finally {
      await daemon.close();
    }
  });
});

describe('GET /stats', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('reports queue counts, last-minute throughput and the last failure', async () => {
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'x'.repeat(10), 'nar/a.nar.xz': 'y'.repeat(20) });
    const daemon = await startApp(rawConfig(redis, s3, {}, await createBucket(s3)));
    try {
      const empty = await daemon.get('/stats');
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body.last_minute, { seconds: 60, files_uploaded: 0, bytes_uploaded: 0, files_skipped: 0, files_failed: 0 });
      assert.equal(empty.body.last_error, null);

      assert.equal((await daemon.post('/publish', [{ from: src, to: 'store/' }])).status, 200);
      await daemon.idle();
      const before = Date.now();
      const jobId = await publishVanishingFile(daemon, src, 'store/gone.narinfo');
      const stats = await daemon.get('/stats');
      assert.equal(stats.status, 200);
      assert.deepEqual(stats.body.queues, {
        uploads: {
          paused: false,
          counts: { waiting: 0, active: 0, delayed: 0, prioritized: 0, 'waiting-children': 0, completed: 2, failed: 1 },
        },
        post_sync: {
          paused: false,
          counts: { waiting: 0, active: 0, delayed: 0, prioritized: 0, 'waiting-children': 0, completed: 0, failed: 0 },
        },
      });
      assert.deepEqual(stats.body.last_minute, { seconds: 60, files_uploaded: 2, bytes_uploaded: 30, files_skipped: 0, files_failed: 1 });
      const lastError = stats.body.last_error;
      assert.equal(lastError.queue, 'uploads');
      assert.equal(lastError.job_id, jobId);
      assert.equal(lastError.key, 'store/gone.narinfo');
      assert.match(lastError.message, new RegExp(GONE_REASON));
      assert.ok(Date.parse(lastError.time) >= before - 1000 && Date.parse(lastError.time) <= Date.now(), lastError.time);
      assert.ok(Math.abs(Date.parse(stats.body.time) - Date.now()) < 60_000);
    } finally {
      await daemon.close();
    }
  });
});
