/**
 * A hostile outbox (issue 17): what a local user who can write into a published folder
 * can make the daemon do. Each test holds the daemon at a known point (a walk that meets
 * an unreadable folder, a HEAD held by the proxy) and changes the outbox there, so that
 * none depends on timing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir } from '../helpers/daemon.js';
import { waitForBatch } from '../helpers/batches.js';
import { pathTooLong } from '../helpers/outbox.js';

describe('hostile outbox: walk', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('an unreadable sub-folder and a bad name are skipped with a reason: the publish is accepted, its retry is the same batch', async () => {
    const bucket = await createBucket(s3);
    const root = await realpath(await tempDir('outbox-walk'));
    await mkdir(join(root, 'a'));
    for (let index = 0; index < 5; index += 1) await writeFile(join(root, 'a', `file-${index}`), `content ${index}`);
    const { folder, file } = await pathTooLong(root, 'b');
    await writeFile(Buffer.concat([Buffer.from(join(root, 'c-')), Buffer.from([0xff])]), 'bad name');
    const daemon = await startApp(rawConfig(redis, s3, { publish: { allowed_roots: [root] } }, bucket));
    try {
      const headers = { 'idempotency-key': 'walk-errors-0001' };
      const reply = await daemon.post('/publish', [{ from: root, to: 'out/' }], headers);
      assert.equal(reply.status, 200, JSON.stringify(reply.body).slice(0, 500));
      assert.equal(reply.body.total_files, 5);
      assert.equal(reply.body.skipped_count, 3);
      assert.deepEqual(
        reply.body.skipped.map((entry: { path: string; reason: string }) => `${entry.path.slice(root.length + 1)}: ${entry.reason}`).sort(),
        [
          `${file}: cannot read file: ENAMETOOLONG`,
          `${folder}: cannot read folder: ENAMETOOLONG`,
          'c-\uFFFD: name is not valid UTF-8 (bytes 632dff)',
        ].sort(),
      );
      const batch = await waitForBatch(daemon, reply.body.batch_id);
      assert.equal(batch.state, 'done');
      assert.deepEqual(
        await listKeys(s3, bucket),
        [0, 1, 2, 3, 4].map((index) => `out/a/file-${index}`),
      );
      const retry = await daemon.post('/publish', [{ from: root, to: 'out/' }], headers);
      assert.equal(retry.status, 200);
      assert.equal(retry.body.batch_id, reply.body.batch_id);
    } finally {
      await daemon.close();
    }
  });
});
