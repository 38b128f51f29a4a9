import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { startRedis, startS3, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, rawConfig, startApp, tempDir, writeTree, type TestApp } from '../helpers/daemon.js';
import { jobCount, waitForBatch } from '../helpers/batches.js';

describe('POST /publish with Idempotency-Key', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let daemon: TestApp;
  before(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3()]);
    daemon = await startApp(rawConfig(redis, s3, {}, await createBucket(s3)));
  });
  after(async () => {
    await daemon.close();
    await Promise.all([redis.destroy(), s3.destroy()]);
  });

  it('answers a retry of the same body with the same reply and enqueues nothing', async () => {
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'a', 'b/c.txt': 'c' });
    const body = [{ from: src, to: 'idem/' }];
    const first = await daemon.post('/publish', body, { 'idempotency-key': 'build-1234 attempt' });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    await waitForBatch(daemon, first.body.batch_id);
    const jobs = await jobCount(daemon.app);

    const retry = await fetch(`${daemon.url}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': 'build-1234 attempt' },
      body: JSON.stringify(body, null, 2), // other whitespace, same JSON
    });
    assert.equal(retry.status, 200);
    assert.equal(retry.headers.get('idempotent-replayed'), 'true');
    assert.deepEqual(await retry.json(), first.body);
    assert.equal(await jobCount(daemon.app), jobs, 'nothing enqueued by the retry');

    const without = await daemon.post('/publish', body);
    assert.notEqual(without.body.batch_id, first.body.batch_id, 'no key: a new batch');
  });

  it('refuses another body under a used key with 409', async () => {
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'a' });
    const first = await daemon.post('/publish', [{ from: src, to: 'one/' }], { 'idempotency-key': 'key-reuse' });
    assert.equal(first.status, 200);
    const jobs = await jobCount(daemon.app);
    const other = await daemon.post('/publish', [{ from: src, to: 'two/' }], { 'idempotency-key': 'key-reuse' });
    assert.equal(other.status, 409);
    assert.equal(other.body.success, false);
    assert.match(other.body.error, /different request body/);
    assert.equal(await jobCount(daemon.app), jobs);
  });

  it('answers 409 while the first request with the key is still publishing', async () => {
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'a' });
    const body = [{ from: src, to: 'pending/' }];
    // What another daemon's claim looks like while its walk runs.
    const client = new Redis({ host: '127.0.0.1', port: redis.port });
    const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex');
    await client.set(
      `${daemon.config.redis.key_prefix}:idempotency:in-flight`,
      JSON.stringify({ state: 'pending', hash, token: 'other' }),
      'PX',
      60_000,
    );
    await client.quit();
    const reply = await daemon.post('/publish', body, { 'idempotency-key': 'in-flight' });
    assert.equal(reply.status, 409);
    assert.match(reply.body.error, /still being processed/);
  });

  it('lets concurrent duplicates publish exactly once', async () => {
    const src = await tempDir();
    await writeTree(src, Object.fromEntries(Array.from({ length: 300 }, (_, index) => [`f${index}.txt`, String(index)])));
    const before = await jobCount(daemon.app);
    const replies = await Promise.all(
      Array.from({ length: 5 }, () => daemon.post('/publish', [{ from: src, to: 'race/' }], { 'idempotency-key': 'race' })),
    );
    const ok = replies.filter((reply) => reply.status === 200);
    assert.ok(ok.length >= 1);
    assert.equal(new Set(ok.map((reply) => reply.body.batch_id)).size, 1, 'one batch');
    for (const reply of replies.filter((reply) => reply.status !== 200)) {
      assert.equal(reply.status, 409);
      assert.match(reply.body.error, /still being processed/);
    }
    await daemon.idle();
    assert.equal((await jobCount(daemon.app)) - before, 300, 'each file enqueued once');
  });

  it('releases the key when the publish fails, so a retry can run', async () => {
    const parent = await tempDir();
    const src = join(parent, 'later');
    const body = [{ from: src, to: 'later/' }];
    const failed = await daemon.post('/publish', body, { 'idempotency-key': 'retry-after-400' });
    assert.equal(failed.status, 400);
    assert.match(failed.body.error, /source path does not exist/);
    await mkdir(src);
    await writeTree(src, { 'x.txt': 'x' });
    const retried = await daemon.post('/publish', body, { 'idempotency-key': 'retry-after-400' });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.total_files, 1);
  });

  it('refuses keys that are empty, too long or not printable ASCII', async () => {
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'a' });
    for (const key of ['', 'k'.repeat(201), 'caf\u00e9']) {
      const reply = await daemon.post('/publish', [{ from: src, to: 'bad-key/' }], { 'idempotency-key': key });
      assert.equal(reply.status, 400, JSON.stringify(key));
      assert.deepEqual(reply.body, { success: false, error: 'Idempotency-Key must be 1-200 printable ASCII characters' });
    }
    const longest = await daemon.post('/publish', [{ from: src, to: 'bad-key/' }], { 'idempotency-key': 'k'.repeat(200) });
    assert.equal(longest.status, 200);
  });
});
