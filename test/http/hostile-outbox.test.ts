/**
 * A hostile outbox (issue 17): what a local user who can write into a published folder
 * can make the daemon do. Each test holds the daemon at a known point (a walk that meets
 * an unreadable folder, a HEAD held by the proxy) and changes the outbox there, so that
 * none depends on timing.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { appendFile, mkdir, open, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, type S3Server, useServers, waitFor } from '../helpers/servers.js';
import { createBucket, getObject, listKeys, rawConfig, startApp, tempDir, type TestApp } from '../helpers/daemon.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
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

/** A promise the test settles: the point where a held request goes on. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('hostile outbox: the file is swapped while its worker waits', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: FaultProxy;
  useServers((servers) => ({ redis, s3, proxy } = servers), startFaultProxy);

  async function start(root: string, bucket: string, publish: Record<string, unknown> = {}): Promise<TestApp> {
    return startApp(
      rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { publish: { allowed_roots: [root], list_remote: false, ...publish } }, bucket),
    );
  }

  /** Publishes `root/out` and returns once the worker's HEAD of `key` is held at the proxy. */
  async function publishHeld(daemon: TestApp, root: string, key: string, held: Promise<void>, extra: Record<string, unknown> = {}) {
    proxy.addRule({ method: 'HEAD', key, hold: held, times: 1 });
    const reply = await daemon.post('/publish', [{ from: join(root, 'out'), to: 'out/', ...extra }]);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    await waitFor(() => proxy.log.some((entry) => entry.method === 'HEAD' && entry.key === key), { what: `HEAD of ${key}` });
    return reply.body.batch_id as string;
  }

  it('a symlink to a file outside the roots swapped in during the HEAD is never read: the checked file is uploaded', async () => {
    const bucket = await createBucket(s3);
    const root = await realpath(await tempDir('swap-root'));
    const outside = await realpath(await tempDir('swap-outside'));
    // Same size as the published file: only the content tells them apart.
    await writeFile(join(outside, 'secret'), 'SECRET FROM OUTSIDE ROOTS!!');
    await mkdir(join(root, 'out'));
    await writeFile(join(root, 'out', 'swap.bin'), 'the file that was published');
    const daemon = await start(root, bucket);
    try {
      const held = gate();
      const batchId = await publishHeld(daemon, root, 'out/swap.bin', held.opened, { delete_after_sync: true });
      await rm(join(root, 'out', 'swap.bin'));
      await symlink(join(outside, 'secret'), join(root, 'out', 'swap.bin'));
      held.open();
      await waitForBatch(daemon, batchId);
      assert.equal((await getObject(s3, bucket, 'out/swap.bin')).body.toString(), 'the file that was published');
      // The symlink is not the file that was read: delete-after-sync leaves it (and its target) alone.
      assert.equal(await realpath(join(root, 'out', 'swap.bin')), join(outside, 'secret'));
    } finally {
      await daemon.close();
    }
  });

  it('a FIFO swapped in during the HEAD never blocks the worker', async () => {
    const bucket = await createBucket(s3);
    const root = await realpath(await tempDir('fifo-root'));
    await mkdir(join(root, 'out'));
    await writeFile(join(root, 'out', 'fifo.bin'), 'regular content');
    const daemon = await start(root, bucket);
    const fifo = join(root, 'out', 'fifo.bin');
    try {
      const held = gate();
      const batchId = await publishHeld(daemon, root, 'out/fifo.bin', held.opened);
      await rm(fifo);
      execFileSync('mkfifo', [fifo]);
      held.open();
      const batch = await waitForBatch(daemon, batchId, 15_000);
      assert.equal(batch.state, 'done');
      assert.equal((await getObject(s3, bucket, 'out/fifo.bin')).body.toString(), 'regular content');
      assert.equal((await daemon.get('/readyz')).status, 200);
    } finally {
      // Before the fix a worker waits in open() for a writer: be that writer, so the daemon can close.
      const writer = await open(fifo, constants.O_RDWR | constants.O_NONBLOCK).catch(() => undefined);
      await writer?.close();
      await daemon.close();
    }
  });

  it('an object written from a file that changed during its upload is removed when the key was absent before', async () => {
    const bucket = await createBucket(s3);
    const root = await realpath(await tempDir('torn-root'));
    await mkdir(join(root, 'out'));
    await writeFile(join(root, 'out', 'torn.bin'), 'first version');
    const daemon = await start(root, bucket, { max_retry: 0 });
    try {
      const held = gate();
      proxy.addRule({ method: 'PUT', key: 'out/torn.bin', hold: held.opened, times: 1 });
      const reply = await daemon.post('/publish', [{ from: join(root, 'out'), to: 'out/' }]);
      await waitFor(() => proxy.log.some((entry) => entry.method === 'PUT' && entry.key === 'out/torn.bin'), {
        what: 'PUT of out/torn.bin',
      });
      await appendFile(join(root, 'out', 'torn.bin'), ' and more');
      held.open();
      const batch = await waitForBatch(daemon, reply.body.batch_id);
      assert.equal(batch.state, 'failed', JSON.stringify({ batch, log: proxy.log.filter((entry) => entry.key === 'out/torn.bin') }));
      const requests = proxy.log.filter((entry) => entry.key === 'out/torn.bin').map((entry) => entry.method);
      assert.deepEqual(requests, ['HEAD', 'PUT', 'DELETE']);
      assert.deepEqual(await listKeys(s3, bucket), []);
    } finally {
      await daemon.close();
    }
  });
});
