/** Jobs carrying only the Go daemon's `file_sync_single` payload (issue 15) are uploaded. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queue } from 'bullmq';
import { type RedisServer, type S3Server, useServers, waitFor } from '../helpers/servers.js';
import { createBucket, getObject, listKeys, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';

describe('Go payload jobs', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('uploads a job added to the queue with only the Go fields, deriving the rest', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'go.narinfo': 'StorePath: /nix/store/go\n', 'sub/gone.txt': 'delete me', 'both.txt': 'both' });
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      const state = async (id: string | undefined) => (await daemon.app.uploads.getJob(id!))?.getState();
      // The queue typed for what another writer may put in it, not for our own payload.
      const addRaw = (data: Record<string, unknown>) => (daemon.app.uploads as unknown as Queue).add('file_sync_single', data);
      // Exactly what the Go publisher wrote: its booleans are omitempty.
      const plain = await addRaw({
        file_path: join(src, 'go.narinfo'),
        target_path: 'store/go.narinfo',
      });
      const deleting = await addRaw({
        file_path: join(src, 'sub', 'gone.txt'),
        target_path: 'store/sub/gone.txt',
        delete_after_sync: true,
        overwrite: true,
        unique: true,
      });
      const named = await addRaw({
        file_path: join(src, 'both.txt'),
        target_path: 'store/both.txt',
        s3_key: 'store/both.txt',
      });
      const conflicting = await addRaw({
        file_path: join(src, 'both.txt'),
        target_path: 'store/one.txt',
        s3_key: 'store/other.txt',
      });
      for (const job of [plain, deleting, named]) {
        await waitFor(async () => (await state(job.id)) === 'completed', { what: `job ${job.data.target_path} to complete` });
      }
      const refused = await waitFor(async () => (await daemon.app.uploads.getJob(conflicting.id!))?.failedReason, {
        what: 'the conflicting job to fail',
      });
      assert.match(refused!, /invalid job data: target_path .* names another key than s3_key/);

      assert.deepEqual(await listKeys(s3, bucket), ['store/both.txt', 'store/go.narinfo', 'store/sub/gone.txt']);
      assert.equal((await getObject(s3, bucket, 'store/go.narinfo')).body.toString(), 'StorePath: /nix/store/go\n');
      assert.equal((await getObject(s3, bucket, 'store/sub/gone.txt')).body.toString(), 'delete me');
      await assert.rejects(access(join(src, 'sub', 'gone.txt')), 'delete_after_sync deleted the file');
      assert.deepEqual(await readdir(join(src, 'sub')), [], 'and kept its folder (the Go payload names no published root)');
      await access(join(src, 'go.narinfo'));

      const checked = await daemon.get('/check/store/go.narinfo');
      assert.deepEqual([checked.body.exists, checked.body.cached], [true, true], 'recorded in the existence cache');
    } finally {
      await daemon.close();
    }
  });
});
