/**
 * Fault (d): a file rewritten while its upload is in flight never lands torn. A proxy in
 * front of the S3 server holds the first PUT of the file, so the daemon's read of it stalls
 * half-way; the file is rewritten meanwhile. No PUT carrying a mix of the two versions may
 * be accepted; the object in the end is the new version, byte for byte. The proxy forwards
 * only complete PUTs, as S3 commits only those (s3rver would keep part of an aborted one).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useServers, waitFor, type RedisServer, type S3Server } from '../test/helpers/servers.js';
import { startProxy, type Proxy } from '../test/helpers/proxy.js';
import { createBucket, getObject, rawConfig, startApp, tempDir, writeTree } from '../test/helpers/daemon.js';

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const SIZE = 40 * 1024 * 1024; // streamed (one PUT: above the 1 MiB buffered limit, below multipart), larger than socket buffers

describe('fault (d): a file rewritten during its upload', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: Proxy;
  useServers<Proxy>(
    (servers) => ({ redis, s3, proxy } = servers),
    (s3Port) => startProxy(s3Port, { atomic: true }),
  );

  it('never stores a torn object, and deletes the local file only once the new version is exact', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir('torn');
    const first = randomBytes(SIZE);
    const second = randomBytes(SIZE);
    await writeTree(src, { 'nar/big.nar.xz': first });
    const path = `/${bucket}/store/nar/big.nar.xz`;
    let held = false;
    proxy.delay = (request) => {
      if (request.method !== 'PUT' || !request.path.startsWith(path) || held) return 0;
      held = true;
      return 1500;
    };
    const daemon = await startApp(
      rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { publish: { max_retry: 3, retry_backoff_seconds: 0.2 } }, bucket),
    );
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const put = await waitFor(() => proxy.requests.find((request) => request.method === 'PUT' && request.path.startsWith(path)), {
        what: 'the first PUT to be held',
      });
      assert.equal(put!.endTime, undefined, 'the rewrite overlaps the upload: the PUT is still in flight');
      await writeFile(join(src, 'nar', 'big.nar.xz'), second);
      await daemon.idle();

      const stored = await getObject(s3, bucket, 'store/nar/big.nar.xz');
      const verdict = md5(stored.body) === md5(second) ? 'new version' : md5(stored.body) === md5(first) ? 'old version' : 'TORN';
      process.stdout.write(`# fault torn file: files expected 1, verified ${verdict === 'new version' ? 1 : 0} (${verdict}), lost 0\n`);
      const puts = proxy.requests.filter((request) => request.method === 'PUT' && request.path.startsWith(path));
      const told = puts.map((request) => `${request.status ?? 'no reply'} after ${Math.round((request.endTime ?? NaN) - request.time)} ms`);
      assert.equal(verdict, 'new version', `PUTs of the file: ${told.join(', ')}`);
      const accepted = puts.filter((request) => request.status === 200);
      assert.equal(accepted.length, 1, 'only the consistent PUT was accepted; the torn one was cut short');
      const deleted = await access(join(src, 'nar', 'big.nar.xz')).then(
        () => false,
        () => true,
      );
      assert.ok(deleted, 'the local file went only after the exact copy landed');
      assert.equal((await daemon.app.uploads.getFailed()).length, 0);
    } finally {
      await daemon.close();
    }
  });
});
