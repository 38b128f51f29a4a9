/** `"unique": true` on publish items (the Go daemon's meaning, issue 15). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type RedisServer, type S3Server, useServers, waitFor } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';
import { jobCount, waitForBatch } from '../helpers/batches.js';

const DAY_SECONDS = 86_400;

describe('POST /publish with unique', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('skips files whose key has a task within the window, and only with the flag', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'a', 'nar/a.nar': 'nar a', 'other.txt': 'other' });
    // No listing of the bucket: files it holds would be left out as present before `unique` is asked.
    const daemon = await startApp(rawConfig(redis, s3, { publish: { list_remote: false } }, bucket));
    const client = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    await client.connect();
    const claim = (key: string) => `${daemon.config.redis.key_prefix}:unique:${key}`;
    try {
      await daemon.app.uploads.pause();
      const first = await daemon.post('/publish', [{ from: src, to: 'store/', unique: true }]);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.total_files, 3);
      assert.equal(first.body.skipped_count, undefined, 'nothing skipped the first time');
      // As if the job had waited in the queue for most of a day: its upload starts the 24 h again.
      await client.expire(claim('store/a.narinfo'), 100);
      await daemon.app.uploads.resume();
      await waitForBatch(daemon, first.body.batch_id);
      assert.equal(await jobCount(daemon.app), 3);
      const ttl = await client.ttl(claim('store/a.narinfo'));
      assert.ok(ttl > DAY_SECONDS - 120 && ttl <= DAY_SECONDS, `the claim holds for 24 h from the upload (${ttl} s)`);

      // The same keys again, while their tasks finished less than 24 h ago: not enqueued.
      const second = await daemon.post('/publish', [{ from: src, to: 'store/', unique: true }]);
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.body.total_files, 3);
      assert.equal(second.body.present_files, 0);
      assert.equal(second.body.skipped_count, 3);
      assert.deepEqual(second.body.skipped.map((entry: { path: string }) => entry.path).sort(), [
        join(src, 'a.narinfo'),
        join(src, 'nar', 'a.nar'),
        join(src, 'other.txt'),
      ]);
      assert.match(second.body.skipped[0].reason, /^unique: a task for store\/.* is already queued, running or finished within 24 h$/);
      const secondBatch = await waitForBatch(daemon, second.body.batch_id);
      assert.deepEqual(
        [secondBatch.state, secondBatch.total_files, secondBatch.skipped_files, secondBatch.uploaded_files],
        ['done', 3, 3, 0],
        'the batch counts them as skipped',
      );
      assert.equal(await jobCount(daemon.app), 3, 'no job was added');

      // A key without a task is not skipped; the others still are.
      await writeTree(src, { 'b.txt': 'new' });
      const third = await daemon.post('/publish', [{ from: src, to: 'store/', unique: true }]);
      assert.equal(third.body.total_files, 4);
      assert.equal(third.body.skipped_count, 3);
      await waitForBatch(daemon, third.body.batch_id);
      assert.equal(await jobCount(daemon.app), 4);

      // Without the flag the same keys are enqueued again (the seed's behaviour).
      const plain = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(plain.body.total_files, 4);
      assert.equal(plain.body.skipped_count, undefined);
      const plainBatch = await waitForBatch(daemon, plain.body.batch_id);
      assert.equal(plainBatch.skipped_files, 4, 'its workers found the files in the bucket');
      assert.equal(await jobCount(daemon.app), 8);

      // Two items of one request on one key: one task.
      const twice = await daemon.post('/publish', [
        { from: join(src, 'other.txt'), to: 'solo/x', unique: true },
        { from: join(src, 'b.txt'), to: 'solo/x', unique: true },
      ]);
      assert.equal(twice.body.skipped_count, 1);
      assert.equal(twice.body.skipped[0].path, join(src, 'b.txt'));
      await waitForBatch(daemon, twice.body.batch_id);
      assert.equal(await jobCount(daemon.app), 9);
      assert.deepEqual(await listKeys(s3, bucket), ['solo/x', 'store/a.narinfo', 'store/b.txt', 'store/nar/a.nar', 'store/other.txt']);
    } finally {
      client.disconnect();
      await daemon.close();
    }
  });

  it('frees the key of a job that failed for good, so the next publish retries it', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'lost.txt': 'soon gone' });
    const daemon = await startApp(rawConfig(redis, s3, { publish: { max_retry: 0 } }, bucket));
    const client = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    await client.connect();
    const claim = `${daemon.config.redis.key_prefix}:unique:store/lost.txt`;
    try {
      // Held in the queue until the file is gone: its upload then fails for good.
      await daemon.app.uploads.pause();
      const first = await daemon.post('/publish', [{ from: join(src, 'lost.txt'), to: 'store/', unique: true }]);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(await client.get(claim), first.body.batch_id, 'the key is claimed by the batch');
      await rm(join(src, 'lost.txt'));
      await daemon.app.uploads.resume();
      const failed = await waitForBatch(daemon, first.body.batch_id);
      assert.equal(failed.state, 'failed');
      await waitFor(async () => (await client.exists(claim)) === 0, { what: 'the claim to be released' });

      await writeTree(src, { 'lost.txt': 'back again' });
      const retry = await daemon.post('/publish', [{ from: join(src, 'lost.txt'), to: 'store/', unique: true }]);
      assert.equal(retry.body.skipped_count, undefined, 'not skipped: the failed task no longer holds the key');
      const done = await waitForBatch(daemon, retry.body.batch_id);
      assert.deepEqual([done.state, done.uploaded_files], ['done', 1]);
    } finally {
      client.disconnect();
      await daemon.close();
    }
  });

  it('refuses a unique that is not a boolean', async () => {
    const daemon = await startApp(rawConfig(redis, s3, {}, await createBucket(s3)));
    try {
      const src = await tempDir();
      await writeTree(src, { 'x.txt': 'x' });
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/', unique: 'yes' }]);
      assert.equal(reply.status, 400);
      assert.equal(reply.body.error, "'unique' must be true or false for item 0");
    } finally {
      await daemon.close();
    }
  });
});
