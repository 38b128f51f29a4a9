/**
 * The publisher's listing past 1,000 keys (two ListObjectsV2 pages) on s3rver and on a
 * real Ceph RGW (storage-servers.ts).
 */
import { it } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createBucket, startApp, tempDir, writeTree } from '../helpers/daemon.js';
import { eachStorageServer } from '../helpers/storage-servers.js';
import { startProxy } from '../helpers/proxy.js';
import { jobCount, waitForBatch } from '../helpers/batches.js';

eachStorageServer((server) => {
  it('publishing 1,050 files already in the bucket decides all of them from a two-page listing, without a job', async () => {
    const { s3, raw } = server();
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const tree: Record<string, string> = {};
    for (let index = 0; index < 1050; index += 1) tree[`f${String(index).padStart(4, '0')}.narinfo`] = `file ${index}\n`;
    await writeTree(src, tree);
    // The bucket already holds them (put directly, 64 at a time: quicker than a first publish).
    const names = Object.keys(tree);
    for (let start = 0; start < names.length; start += 64) {
      await Promise.all(
        names
          .slice(start, start + 64)
          .map((name) => s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `store/${name}`, Body: tree[name] }))),
      );
    }
    const proxy = await startProxy(s3.port);
    const daemon = await startApp(raw({}, bucket, proxy.endpoint));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store' }]);
      assert.deepEqual([reply.body.total_files, reply.body.present_files], [1050, 1050]);
      const batch = await waitForBatch(daemon, reply.body.batch_id);
      assert.deepEqual([batch.state, batch.skipped_files], ['done', 1050]);
      assert.equal(await jobCount(daemon.app), 0, 'nothing enqueued');
      assert.deepEqual(
        proxy.requests.map((request) => `${request.method} ${request.path.includes('continuation-token') ? 'page 2' : 'page 1'}`),
        ['GET page 1', 'GET page 2'],
        'two listing pages, no HEAD, no PUT',
      );
    } finally {
      await daemon.close();
      await proxy.close();
    }
  });
});
