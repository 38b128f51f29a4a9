import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { waitForBatch } from '../helpers/batches.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';

describe('storage outage gate', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: FaultProxy;
  useServers((servers) => ({ redis, s3, proxy } = servers), startFaultProxy);

  it('holds no upload back when the storage answers its probe with an error (a key without s3:ListBucket)', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'A', 'nar/b.nar.xz': 'BB' });
    // The probe (HeadBucket) is refused, as for a key allowed PutObject but not ListBucket; the
    // first PUTs of a file meet 503s (an outage-like reply), then the storage works.
    proxy.addRule({ method: 'HEAD', key: '', fail: 403 });
    proxy.addRule({ method: 'PUT', key: 'store/nar/b.nar.xz', fail: 503, times: 4 });
    const daemon = await startApp(
      rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { publish: { list_remote: false, retry_backoff_seconds: 0.1 } }, bucket),
    );
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const result = await waitForBatch(daemon, reply.body.batch_id, 20_000);
      assert.equal(result.state, 'done', JSON.stringify(result));
      assert.equal(result.uploaded_files, 2);
      assert.deepEqual(await listKeys(s3, bucket), ['store/a.narinfo', 'store/nar/b.nar.xz']);
      assert.ok(
        proxy.log.some((request) => request.method === 'HEAD' && request.key === '' && request.status === 403),
        'the probe ran',
      );
    } finally {
      await daemon.close();
    }
  });
});
