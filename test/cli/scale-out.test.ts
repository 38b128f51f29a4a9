/**
 * Scale-out: two worker daemons and one api daemon (three processes) on one Redis and one
 * S3 server. Every file of a 1,000-file publish is created in the bucket exactly once
 * (counted at the S3 server, through a proxy) and the post-sync command runs once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis, startS3, waitFor, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, rawConfig, request, startDaemonProcesses, tempDir, writeTree, type DaemonProcess } from '../helpers/daemon.js';
import { startCountProxy, type CountProxy } from '../helpers/count-proxy.js';

const FILES = 1000;

async function runsOf(file: string): Promise<number> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

describe('scale-out on one Redis', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: CountProxy;
  before(async () => {
    [redis, s3] = await Promise.all([startRedis({ appendonly: true }), startS3()]);
    proxy = await startCountProxy(s3);
  });
  after(async () => {
    await proxy?.close();
    await Promise.all([redis?.destroy(), s3?.destroy()]);
  });

  it('two worker daemons and one api daemon upload each of 1,000 files once and run the post-sync command once', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const out = join(await tempDir('hook-out'), 'runs');
    const base = rawConfig(
      redis,
      s3,
      {
        s3: { endpoint: proxy.endpoint },
        daemon: {
          concurrency: 16,
          enable_ssh_task: true,
          ssh_shell: true,
          ssh_command: `echo "$SYNC4LOONG_UPLOADED_COUNT" >> ${out}`,
          // 8 s: no pause between two uploads of this publish comes near it, even on a loaded
          // 2-core machine (a pause past it would be a stall worth failing on), so one run is
          // the right answer, not luck; the test waits for that run, not for the time.
          ssh_debounce_minutes: 8 / 60,
          shutdown_timeout_seconds: 5,
        },
      },
      bucket,
    );
    const as = (role: string) => ({ ...base, daemon: { ...base.daemon, role }, http: { ...base.http } });
    await writeTree(
      src,
      Object.fromEntries(Array.from({ length: FILES }, (_, i) => [`f${String(i).padStart(4, '0')}.narinfo`, `file ${i}\n`])),
    );
    const daemons = await startDaemonProcesses([as('api'), as('worker'), as('worker')]);
    const [api, ...workers] = daemons as [DaemonProcess, DaemonProcess, DaemonProcess];
    const stats = async (daemon: DaemonProcess) => (await request(daemon.url, 'GET', '/stats')).body;
    try {
      const reply = await request(api.url, 'POST', '/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.total_files, FILES);

      await waitFor(
        async () => {
          const { counts } = (await stats(api)).queues.uploads;
          return counts.completed === FILES && counts.waiting + counts.active + counts.delayed + counts.prioritized === 0;
        },
        { timeoutMs: 45_000, intervalMs: 250, what: 'every upload job to complete' },
      );
      const creations = proxy.creations();
      assert.equal(creations.size, FILES, 'every key was created');
      const twice = [...creations].filter(([, count]) => count !== 1);
      assert.deepEqual(twice, [], 'no key was created more than once');

      // The work was shared: both workers uploaded, the api daemon none.
      const uploadedBy = await Promise.all(daemons.map(async (daemon) => (await stats(daemon)).last_minute.files_uploaded as number));
      assert.equal(uploadedBy[0], 0, 'the api daemon uploads nothing');
      assert.ok(uploadedBy[1]! > 0 && uploadedBy[2]! > 0, `both workers uploaded: ${uploadedBy.join(', ')}`);
      assert.equal(uploadedBy[1]! + uploadedBy[2]!, FILES);
      assert.equal((await stats(workers[0])).role, 'worker');

      await waitFor(async () => (await runsOf(out)) > 0, { timeoutMs: 30_000, what: 'the post-sync command to run' });
      await waitFor(
        async () => {
          const { counts } = (await stats(api)).queues.post_sync;
          return counts.waiting + counts.active + counts.delayed === 0;
        },
        { timeoutMs: 15_000, what: 'the post-sync queue to settle' },
      );
      assert.equal(await runsOf(out), 1, 'the command ran once');
      assert.equal((await readFile(out, 'utf8')).trim(), String(FILES), 'and was told about every upload');
      const runs = (await request(api.url, 'GET', '/hooks/runs')).body;
      assert.equal(runs.runs.length, 1);
      assert.equal(runs.pending.uploaded_count, 0);
    } finally {
      const codes = await Promise.all(daemons.map((daemon) => daemon.stop()));
      assert.deepEqual(codes, [0, 0, 0]);
    }
  });
});
