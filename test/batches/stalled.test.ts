/**
 * A job BullMQ fails by itself, without running the processor (it stalled more than
 * `maxStalledCount` times: daemons kept dying on it), must still reach its batch, or the
 * batch stays running and `publish --wait` with it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { useServers, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, rawConfig, startApp, tempDir, uniqueName, writeTree } from '../helpers/daemon.js';
import { waitForBatch } from '../helpers/batches.js';
import { UPLOAD_QUEUE } from '../../src/queue/index.js';

describe('a job failed by BullMQ itself', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('still gets its outcome in its batch, which then finishes', async () => {
    const bucket = await createBucket(s3);
    const prefix = uniqueName('t');
    const config = (role: string) =>
      rawConfig(redis, s3, { redis: { key_prefix: prefix }, daemon: { role }, publish: { max_retry: 0 } }, bucket);
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'a' });
    const api = await startApp(config('api'));
    // Stands for a daemon that took the job and died on it, as far as BullMQ can tell.
    const dead = new Worker(UPLOAD_QUEUE, null, { connection: { host: '127.0.0.1', port: redis.port }, prefix, autorun: false });
    let worker: Awaited<ReturnType<typeof startApp>> | undefined;
    try {
      const reply = await api.post('/publish', [{ from: join(src, 'a.txt'), to: 'x/a.txt' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const token = 'dead-daemon';
      const job = await dead.getNextJob(token);
      assert.ok(job, 'the job was taken');
      worker = await startApp(config('worker'));
      // What BullMQ's stalled-job check does to a job past its stall limit.
      await job.moveToFailed(new Error('job stalled more than allowable limit'), token, false);
      const batch = await waitForBatch(api, reply.body.batch_id, 15_000);
      assert.equal(batch.state, 'failed');
      assert.deepEqual(batch.failures, [{ s3_key: 'x/a.txt', reason: 'job stalled more than allowable limit' }]);
    } finally {
      await dead.close();
      await worker?.close();
      await api.close();
    }
  });
});
