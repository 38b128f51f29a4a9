/**
 * Nix ordering, an outage, a kill -9 mid-publish and one during a multipart upload (the
 * fault tests of faults/ that concern the storage, at a smaller size), on s3rver and on a
 * real Ceph RGW (storage-servers.ts), with the fault proxy in front of either: the
 * order of requests is read from its log, outages are made there (RGW is shared by the
 * run; s3rver tears objects when stopped).
 */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { createBucket, getObject, listKeys, request, startApp, startDaemonProcess, tempDir, writeTree } from '../helpers/daemon.js';
import { eachStorageServer } from '../helpers/storage-servers.js';
import { startFaultProxy, type LoggedRequest } from '../helpers/fault-proxy.js';
import { startProxy } from '../helpers/proxy.js';
import { waitForBatch } from '../helpers/batches.js';
import { waitFor } from '../helpers/servers.js';
import { nixFixture, verify } from '../helpers/nix-fixture.js';

const MiB = 1024 * 1024;
/** Files of the kill -9 test: enough for the kill to land mid-publish, few enough for a quick run on both servers. */
const FILES = 200;
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

function narinfo(hash: string): string {
  return `StorePath: /nix/store/${hash}-pkg\nURL: nar/${hash}.nar.xz\nCompression: xz\nNarHash: sha256:${hash.padEnd(52, '0')}\nNarSize: 4096\n`;
}

function putOf(puts: LoggedRequest[], key: string): LoggedRequest {
  const found = puts.find((entry) => entry.key === key);
  assert.ok(found, `PUT of ${key}`);
  return found;
}

eachStorageServer((server) => {
  it('uploads each narinfo only after its NAR is stored, and nix-cache-info last', async () => {
    const { s3, raw } = server();
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const tree: Record<string, string | Buffer> = { 'nix-cache-info': 'StoreDir: /nix/store\n' };
    for (let index = 0; index < 4; index += 1) {
      tree[`h${index}.narinfo`] = narinfo(`h${index}`);
      tree[`nar/h${index}.nar.xz`] = Buffer.alloc(64 * 1024, index);
    }
    await writeTree(src, tree);
    const proxy = await startFaultProxy(s3.port);
    proxy.addRule({ method: 'PUT', key: /^store\/nar\//, delayMs: 300 });
    const daemon = await startApp(raw({}, bucket, proxy.endpoint));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      const batch = await waitForBatch(daemon, reply.body.batch_id);
      assert.deepEqual([batch.state, batch.uploaded_files], ['done', 9]);
      const puts = proxy.puts();
      for (let index = 0; index < 4; index += 1) {
        const nar = putOf(puts, `store/nar/h${index}.nar.xz`);
        const info = putOf(puts, `store/h${index}.narinfo`);
        assert.ok(info.startSeq > nar.endSeq!, `h${index}.narinfo sent after its NAR was stored`);
      }
      assert.equal(puts.at(-1)?.key, 'store/nix-cache-info', 'nix-cache-info is the last PUT');
    } finally {
      await daemon.close();
      await proxy.close();
    }
  });

  it('rides out an outage mid-publish: every file lands, none deleted without its copy', async () => {
    const { s3, raw } = server();
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const files: Record<string, Buffer> = {};
    for (let index = 0; index < 150; index += 1) files[`f${index}.nar`] = randomBytes(2048 + index);
    await writeTree(src, files);
    const proxy = await startProxy(s3.port, { atomic: true });
    // One retry with a short backoff: without riding out the outage, jobs would fail for good.
    const config = raw({ daemon: { concurrency: 4 }, publish: { max_retry: 1, retry_backoff_seconds: 0.2 } }, bucket, proxy.endpoint);
    const daemon = await startDaemonProcess(config);
    try {
      const reply = await request(daemon.url, 'POST', '/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      assert.equal(reply.status, 200);
      await waitFor(() => proxy.count('PUT') >= 20, { what: 'first uploads' });
      await proxy.down();
      await waitFor(() => /storage unreachable/.test(daemon.output()), { what: 'the daemon to notice the outage' });
      const present = (await listKeys(s3, bucket)).length;
      assert.ok(present < 150, `the outage overlapped the work (${present} of 150 present)`);
      await proxy.up();
      const batch = await waitForBatch({ get: (path) => request(daemon.url, 'GET', path) }, reply.body.batch_id);
      assert.deepEqual([batch.state, batch.uploaded_files, batch.failed_files], ['done', 150, []]);
      for (const [name, content] of Object.entries(files)) {
        assert.equal(md5((await getObject(s3, bucket, `store/${name}`)).body), md5(content), name);
      }
      assert.deepEqual(await readdir(src), []);
    } finally {
      await daemon.stop();
      await proxy.close();
    }
  });

  it('kill -9 mid-publish of many small files, then a restart: every file lands, none deleted without its copy', async () => {
    const { s3, raw } = server();
    const bucket = await createBucket(s3);
    const fixture = await nixFixture(FILES);
    const proxy = await startProxy(s3.port);
    // Slowed for the first daemon only, so the kill finds part of the work done.
    proxy.delay = 40;
    const config = raw({ daemon: { concurrency: 8, job_lock_seconds: 2 } }, bucket, proxy.endpoint);
    const first = await startDaemonProcess(config);
    let second: Awaited<ReturnType<typeof startDaemonProcess>> | undefined;
    try {
      const reply = await request(first.url, 'POST', '/publish', [{ from: fixture.root, to: 'store/', delete_after_sync: true }]);
      assert.equal(reply.status, 200);
      await waitFor(async () => (await listKeys(s3, bucket)).length >= 30, { what: 'first uploads' });
      await first.stop('SIGKILL');
      const present = (await listKeys(s3, bucket)).length;
      assert.ok(present < FILES, `the kill overlapped the work (${present} of ${FILES} present)`);
      proxy.delay = 0;
      second = await startDaemonProcess(config);
      const batch = await waitForBatch({ get: (path) => request(second!.url, 'GET', path) }, reply.body.batch_id, 120_000);
      assert.deepEqual([batch.state, batch.failed_files], ['done', []]);
      const verdict = await verify(s3, bucket, fixture, 'store/');
      assert.deepEqual(verdict, { expected: FILES, verified: FILES, lost: 0, deletedWithoutCopy: 0 });
      assert.deepEqual(await readdir(fixture.root), [], 'every local file deleted once proven, and the emptied folder');
    } finally {
      await first.stop('SIGKILL');
      await second?.stop();
      await proxy.close();
    }
  });

  it('kill -9 during a multipart upload: after a restart the file lands and no upload is left open', async () => {
    const { s3, raw } = server();
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const large = randomBytes(16 * MiB);
    await writeTree(src, { 'big.nar': large });
    const proxy = await startFaultProxy(s3.port);
    // The first daemon's four parts (all in flight at once) are held until after it is killed.
    proxy.addRule({ method: 'PUT', key: 'store/big.nar', delayMs: 5_000, times: 4 });
    const config = raw(
      { daemon: { job_lock_seconds: 2 }, s3: { multipart_threshold_mb: 10, part_size_mb: 5 }, publish: { max_retry: 0 } },
      bucket,
      proxy.endpoint,
    );
    const first = await startDaemonProcess(config);
    let second: Awaited<ReturnType<typeof startDaemonProcess>> | undefined;
    try {
      const reply = await request(first.url, 'POST', '/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      assert.equal(reply.status, 200);
      await waitFor(() => proxy.log.filter((entry) => entry.method === 'PUT' && entry.key === 'store/big.nar').length === 4, {
        what: 'four parts in flight',
      });
      await first.stop('SIGKILL');
      const opened = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket })).catch(() => undefined);
      second = await startDaemonProcess(config);
      const batch = await waitForBatch({ get: (path) => request(second!.url, 'GET', path) }, reply.body.batch_id, 60_000);
      assert.deepEqual([batch.state, batch.uploaded_files], ['done', 1]);
      assert.equal(md5((await getObject(s3, bucket, 'store/big.nar')).body), md5(large));
      assert.deepEqual(await readdir(src), []);
      if (server().name === 'rgw') {
        // s3rver has no ListMultipartUploads; on RGW the orphan was there, and was aborted
        assert.equal(opened?.Uploads?.length, 1, 'the killed daemon left one upload open');
        const uploads = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
        assert.deepEqual(uploads.Uploads ?? [], [], 'no multipart upload left open');
      }
    } finally {
      await first.stop('SIGKILL');
      await second?.stop();
      await proxy.close();
    }
  });
});
