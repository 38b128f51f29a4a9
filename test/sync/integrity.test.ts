import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, getObject, headObject, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';

const MiB = 1024 * 1024;
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

describe('integrity of uploads', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('uploads large files in parts, small ones buffered, medium ones streamed, all byte for byte', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const large = randomBytes(12 * MiB + 123);
    const medium = randomBytes(3 * MiB + 7);
    const small = randomBytes(4096);
    await writeTree(src, { 'nar/large.nar.xz': large, 'nar/medium.nar.xz': medium, 'small.narinfo': small });
    const daemon = await startApp(rawConfig(redis, s3, { s3: { multipart_threshold_mb: 10, part_size_mb: 5 } }, bucket));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      assert.equal(reply.body.total_files, 3);
      await daemon.idle();
      for (const [key, content] of [
        ['store/nar/large.nar.xz', large],
        ['store/nar/medium.nar.xz', medium],
        ['store/small.narinfo', small],
      ] as const) {
        const object = await getObject(s3, bucket, key);
        assert.equal(md5(object.body), md5(content), `${key} intact`);
      }
      assert.deepEqual(await readdir(src), [], 'verified files were deleted');
      const failed = await daemon.app.uploads.getFailed();
      assert.deepEqual(
        failed.map((job) => job.failedReason),
        [],
      );
    } finally {
      await daemon.close();
    }
  });

  it('compare = "checksum" skips equal content and re-uploads a same-size change', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'AAAA', 'b.txt': 'BBBB' });
    const daemon = await startApp(rawConfig(redis, s3, { publish: { compare: 'checksum' } }, bucket));
    try {
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      const before = await headObject(s3, bucket, 'store/a.txt');
      await writeFile(join(src, 'b.txt'), 'CCCC');
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/b.txt')).body.toString(), 'CCCC');
      const completed = await daemon.app.uploads.getCompleted();
      const outcomes = completed.map((job) => `${job.data.s3_key}:${job.returnvalue.outcome}`).sort();
      assert.deepEqual(outcomes, ['store/a.txt:skipped', 'store/a.txt:uploaded', 'store/b.txt:uploaded', 'store/b.txt:uploaded']);
      assert.deepEqual(await headObject(s3, bucket, 'store/a.txt'), before);
    } finally {
      await daemon.close();
    }
  });
});
