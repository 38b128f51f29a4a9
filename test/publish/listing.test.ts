import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { useServers, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, headObject, listKeys, rawConfig, startApp, tempDir, writeTree, type TestApp } from '../helpers/daemon.js';
import { jobCount, waitForBatch } from '../helpers/batches.js';
import { startProxy, type Proxy } from '../helpers/proxy.js';
import { startPrefixListing, type ListPageFn } from '../../src/publish/listing.js';
import { silentLogger } from '../../src/log/index.js';

function narinfo(hash: string): string {
  return `StorePath: /nix/store/${hash}-pkg\nURL: nar/${hash}.nar.xz\nCompression: xz\nNarHash: sha256:${hash.padEnd(52, '0')}\nNarSize: 4096\n`;
}

/** `count` narinfos with their NARs. */
function cache(count: number, fill = 1): Record<string, string | Buffer> {
  const tree: Record<string, string | Buffer> = {};
  for (let index = 0; index < count; index += 1) {
    tree[`h${index}.narinfo`] = narinfo(`h${index}`);
    tree[`nar/h${index}.nar.xz`] = Buffer.alloc(3000 + index, fill);
  }
  return tree;
}

describe('listing the destination once per publish', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  async function setUp(publish: Record<string, unknown> = {}) {
    const proxy = await startProxy(s3.port);
    const bucket = await createBucket(s3);
    const app = await startApp(rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { publish: { ...publish } }, bucket));
    return { proxy, bucket, app };
  }

  async function publishAndWait(app: TestApp, body: unknown) {
    const reply = await app.post('/publish', body);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    return { reply: reply.body, batch: await waitForBatch(app, reply.body.batch_id) };
  }

  const lists = (proxy: Proxy, bucket: string) =>
    proxy.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`/${bucket}/?list-type=2`)).length;

  it('uploads into an empty prefix without a HEAD per file, then re-publishes without a job', async () => {
    const { proxy, bucket, app } = await setUp();
    try {
      const src = await tempDir();
      await writeTree(src, cache(20));
      const first = await publishAndWait(app, [{ from: src, to: 'store' }]);
      assert.equal(first.batch.state, 'done');
      assert.deepEqual([first.batch.total_files, first.batch.uploaded_files, first.batch.skipped_files], [40, 40, 0]);
      assert.equal(lists(proxy, bucket), 1, 'one listing request');
      assert.equal(proxy.count('HEAD', `/${bucket}/`), 0, 'no HEAD: the listing proved every key absent');
      assert.equal(proxy.count('PUT', `/${bucket}/store/`), 40);
      const jobsAfterFirst = await jobCount(app.app);

      proxy.reset();
      const second = await publishAndWait(app, [{ from: src, to: 'store' }]);
      assert.deepEqual([second.reply.total_files, second.reply.present_files], [40, 40]);
      assert.equal(second.batch.state, 'done');
      assert.deepEqual([second.batch.total_files, second.batch.uploaded_files, second.batch.skipped_files], [40, 0, 40]);
      assert.deepEqual(
        second.batch.items.map((item: any) => [item.total_files, item.skipped_files]),
        [[40, 40]],
      );
      assert.equal(await jobCount(app.app), jobsAfterFirst, 'nothing enqueued');
      assert.deepEqual(
        proxy.requests.map((r) => r.method),
        ['GET'],
        'one listing, no HEAD, no PUT',
      );
      // The existence cache learnt the keys, as a worker's skip would have taught it.
      const check = await app.get('/check/store/nar/h3.nar.xz');
      assert.deepEqual([check.status, check.body.exists, check.body.cached], [200, true, true]);
    } finally {
      await app.close();
      await proxy.close();
    }
  });

  it('uploads a file whose size changed and a narinfo whose NAR is already there, without asking per file', async () => {
    const { proxy, bucket, app } = await setUp();
    try {
      const src = await tempDir();
      await writeTree(src, cache(5));
      await publishAndWait(app, [{ from: src, to: '/' }]);
      // A new path whose NAR the bucket already holds (uploaded by an earlier publish),
      // a narinfo rewritten with another size, and a new NAR.
      const other = await tempDir();
      await writeTree(other, { 'h0.narinfo': narinfo('h0') + 'Sig: cache-1:abc\n', 'nar/h0.nar.xz': Buffer.alloc(3000, 1) });
      await writeTree(src, { 'h9.narinfo': narinfo('h9'), 'nar/h9.nar.xz': Buffer.alloc(5000, 2) });
      await writeFile(join(src, 'h1.narinfo'), narinfo('h1') + 'Sig: cache-1:def\n');
      proxy.reset();
      const { reply, batch } = await publishAndWait(app, [{ from: src, to: '/' }]);
      assert.equal(batch.state, 'done', JSON.stringify(batch.failures));
      assert.deepEqual([reply.total_files, reply.present_files], [12, 9]);
      assert.deepEqual([batch.uploaded_files, batch.skipped_files], [3, 9]);
      assert.equal(proxy.count('HEAD'), 0);
      assert.deepEqual(
        proxy.requests
          .filter((r) => r.method === 'PUT')
          .map((r) => r.path)
          .sort(),
        [`/${bucket}/h1.narinfo`, `/${bucket}/h9.narinfo`, `/${bucket}/nar/h9.nar.xz`],
      );
      assert.equal((await headObject(s3, bucket, 'h1.narinfo'))!.size, narinfo('h1').length + 17);

      // A narinfo published on its own folder, its NAR already in the bucket from before.
      const single = await publishAndWait(app, [{ from: other, to: '/' }]);
      assert.equal(single.batch.state, 'done', JSON.stringify(single.batch.failures));
      assert.deepEqual([single.batch.uploaded_files, single.batch.skipped_files], [1, 1]);
    } finally {
      await app.close();
      await proxy.close();
    }
  });

  it('does not wait long for a bucket slow to list: files go without it, and their workers ask', async () => {
    const { proxy, bucket, app } = await setUp({ list_timeout_seconds: 0.3 });
    try {
      proxy.delay = (request) => (request.method === 'GET' && request.path.includes('list-type=2') ? 30_000 : 0);
      const src = await tempDir();
      await writeTree(src, cache(2));
      const started = performance.now();
      const reply = await app.post('/publish', [{ from: src, to: 'slow' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.ok(performance.now() - started < 10_000, 'the reply did not wait for the listing');
      const batch = await waitForBatch(app, reply.body.batch_id);
      assert.deepEqual([batch.state, batch.uploaded_files], ['done', 4]);
      assert.equal(proxy.count('HEAD', `/${bucket}/slow/`), 4, 'each worker asked the bucket');
    } finally {
      await app.close();
      await proxy.close();
    }
  });

  it('still asks per file when it must: delete_after_sync, list_remote off, or a stale listing', async () => {
    for (const [publishOptions, item] of [
      [{}, { delete_after_sync: true }],
      [{ list_remote: false }, {}],
      [{ list_trust_seconds: 0 }, {}],
    ] as const) {
      const { proxy, bucket, app } = await setUp(publishOptions);
      try {
        const src = await tempDir();
        await writeTree(src, cache(3));
        const { batch } = await publishAndWait(app, [{ from: src, to: 'c', ...item }]);
        assert.equal(batch.uploaded_files, 6);
        // An empty prefix listed: no HEAD before the PUTs, unless the listing is off or not trusted.
        const trusted = !('list_remote' in publishOptions) && !('list_trust_seconds' in publishOptions);
        assert.equal(proxy.count('HEAD', `/${bucket}/c/`), trusted ? 0 : 6, JSON.stringify(publishOptions));
        assert.equal(lists(proxy, bucket), 'list_remote' in publishOptions ? 0 : 1);
        const deleted = 'delete_after_sync' in item;
        proxy.reset();
        await writeTree(src, cache(3));
        const again = await publishAndWait(app, [{ from: src, to: 'c', ...item }]);
        // Deleting needs the content proven equal: every file goes to a worker, which asks.
        assert.equal(again.reply.present_files, deleted || 'list_remote' in publishOptions ? 0 : 6);
        assert.equal(again.batch.skipped_files, 6);
        assert.equal(proxy.count('HEAD', `/${bucket}/c/`), again.reply.present_files === 0 ? 6 : 0);
        assert.deepEqual((await listKeys(s3, bucket)).length, 6);
      } finally {
        await app.close();
        await proxy.close();
      }
    }
  });
});

describe('prefix listing budget', () => {
  /** A bucket of `total` keys `k000000`..., served in pages of 1,000, counting requests. */
  function bucketOf(total: number, failAt?: number) {
    const calls: Array<string | undefined> = [];
    const list: ListPageFn = async (_prefix, { continuation }) => {
      calls.push(continuation);
      const start = Number(continuation ?? 0);
      if (failAt !== undefined && calls.length >= failAt) throw new Error('AccessDenied');
      const end = Math.min(total, start + 1000);
      const objects = [];
      for (let index = start; index < end; index += 1) objects.push({ key: `k${String(index).padStart(6, '0')}`, size: index });
      return { objects, continuation: end < total ? String(end) : undefined };
    };
    return { list, calls };
  }

  /** The listing of a publish whose walk found `files` files, once it has settled. */
  async function listingAfterWalk(list: ListPageFn, files: number) {
    const listing = startPrefixListing({ list, log: silentLogger() }, '');
    for (let index = 0; index < files; index += 1) listing.found();
    listing.finish();
    await listing.whenSettled();
    return listing;
  }

  it('lists one page for a small publish into a large bucket, and proves nothing absent from it', async () => {
    const bucket = bucketOf(50_000);
    const listing = await listingAfterWalk(bucket.list, 3);
    assert.equal(bucket.calls.length, 1);
    assert.equal(listing.sizeOf('k000007'), 7, 'a listed key is known');
    assert.equal(listing.sizeOf('k049999'), undefined, 'an unlisted key is unknown, not absent');
  });

  it('lists up to two keys per file found, and a complete listing proves absence', async () => {
    const large = bucketOf(50_000);
    const listing = await listingAfterWalk(large.list, 1500);
    assert.equal(large.calls.length, 3, '3,000 keys for 1,500 files');
    assert.equal(listing.sizeOf('k002999'), 2999);
    assert.equal(listing.sizeOf('k003000'), undefined, 'past the budget: unknown, not absent');

    const small = bucketOf(1500);
    const complete = await listingAfterWalk(small.list, 800);
    assert.equal(complete.sizeOf('k001499'), 1499);
    assert.equal(complete.sizeOf('nope'), null);
  });

  it('knows less, and fails nothing, when listing fails', async () => {
    const bucket = bucketOf(5000, 2);
    const listing = await listingAfterWalk(bucket.list, 5000);
    assert.equal(listing.settled, true);
    assert.equal(listing.sizeOf('k000001'), 1);
    assert.equal(listing.sizeOf('k004000'), undefined);
  });
});
