/**
 * Uploads, their proof, delete-after-sync, /check and compare = "checksum",
 * on s3rver and on a real Ceph RGW (storage-servers.ts). RGW answers
 * CompleteMultipartUpload with an empty ETag and refuses aws-chunked trailing checksums:
 * the multipart and `when_supported` cases here are the ones that failed there.
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ListMultipartUploadsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createBucket, getObject, headObject, startApp, tempDir, writeTree } from '../helpers/daemon.js';
import { eachStorageServer } from '../helpers/storage-servers.js';

const MiB = 1024 * 1024;
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

eachStorageServer((server) => {
  for (const requestChecksum of ['when_required', 'when_supported']) {
    it(`publishes buffered, streamed and multipart files byte for byte and deletes them once proven (${requestChecksum})`, async () => {
      const { s3, raw } = server();
      const bucket = await createBucket(s3);
      const src = await tempDir();
      const large = randomBytes(11 * MiB + 123); // 3 parts of 5 MiB: above multipart_threshold_mb
      const medium = randomBytes(2 * MiB + 7); // streamed: above the 1 MiB read into memory
      const small = randomBytes(4096);
      await writeTree(src, { 'nar/large.nar.xz': large, 'nar/medium.nar.xz': medium, 'small.narinfo': small });
      const daemon = await startApp(
        raw({ s3: { multipart_threshold_mb: 10, part_size_mb: 5, request_checksum: requestChecksum }, publish: { max_retry: 0 } }, bucket),
      );
      try {
        const reply = await daemon.post('/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
        assert.equal(reply.body.total_files, 3);
        await daemon.idle();
        const failed = await daemon.app.uploads.getFailed();
        assert.deepEqual(
          failed.map((job) => job.failedReason),
          [],
        );
        for (const [key, content] of [
          ['store/nar/large.nar.xz', large],
          ['store/nar/medium.nar.xz', medium],
          ['store/small.narinfo', small],
        ] as const) {
          assert.equal(md5((await getObject(s3, bucket, key)).body), md5(content), `${key} intact`);
        }
        assert.match((await headObject(s3, bucket, 'store/nar/large.nar.xz'))!.etag, /^[0-9a-f]{32}(-3)?$/);
        assert.deepEqual(await readdir(src), [], 'proven files were deleted');
        if (server().name === 'rgw') {
          // s3rver has no ListMultipartUploads
          const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
          assert.deepEqual(uploads.Uploads ?? [], [], 'no multipart upload left open');
        }
      } finally {
        await daemon.close();
      }
    });
  }

  it('skips with delete_after_sync only on proven equal content, multipart objects included', async () => {
    const { s3, raw } = server();
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const large = randomBytes(11 * MiB);
    await writeTree(src, { 'big.nar': large, 'same.txt': 'AAAA', 'changed.txt': 'BBBB' });
    const daemon = await startApp(raw({ s3: { multipart_threshold_mb: 10, part_size_mb: 5 } }, bucket));
    try {
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      await writeFile(join(src, 'changed.txt'), 'CCCC');
      await daemon.post('/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      await daemon.idle();
      const outcomes = (await daemon.app.uploads.getCompleted()).map((job) => `${job.data.s3_key}:${job.returnvalue.outcome}`).sort();
      assert.deepEqual(outcomes, [
        'store/big.nar:skipped',
        'store/big.nar:uploaded',
        'store/changed.txt:uploaded',
        'store/changed.txt:uploaded',
        'store/same.txt:skipped',
        'store/same.txt:uploaded',
      ]);
      assert.equal((await getObject(s3, bucket, 'store/changed.txt')).body.toString(), 'CCCC');
      assert.deepEqual(await readdir(src), [], 'all deleted: two proven by content, one uploaded');
    } finally {
      await daemon.close();
    }
  });

  it('compare = "checksum" skips equal content and re-uploads a same-size change', async () => {
    const { s3, raw } = server();
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'AAAA', 'b.txt': 'BBBB' });
    const daemon = await startApp(raw({ publish: { compare: 'checksum' } }, bucket));
    try {
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      await writeFile(join(src, 'b.txt'), 'CCCC');
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/b.txt')).body.toString(), 'CCCC');
      const outcomes = (await daemon.app.uploads.getCompleted()).map((job) => `${job.data.s3_key}:${job.returnvalue.outcome}`).sort();
      assert.deepEqual(outcomes, ['store/a.txt:skipped', 'store/a.txt:uploaded', 'store/b.txt:uploaded', 'store/b.txt:uploaded']);
    } finally {
      await daemon.close();
    }
  });

  it('/check answers from the bucket for keys it did not upload, and from the cache for those it did', async () => {
    const { s3, raw } = server();
    const bucket = await createBucket(s3);
    await s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: 'store/other.narinfo', Body: 'elsewhere' }));
    const src = await tempDir();
    await writeTree(src, { 'mine.narinfo': 'mine' });
    const daemon = await startApp(raw({}, bucket));
    try {
      const other = await daemon.get('/check/store/other.narinfo');
      assert.deepEqual([other.status, other.body.exists, other.body.cached, other.body.size], [200, true, false, 9]);
      const missing = await daemon.get('/check/store/missing.narinfo');
      assert.deepEqual([missing.status, missing.body.exists], [200, false]);
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      const mine = await daemon.get('/check/store/mine.narinfo');
      assert.deepEqual([mine.body.exists, mine.body.cached, mine.body.size], [true, true, 4]);
    } finally {
      await daemon.close();
    }
  });
});
