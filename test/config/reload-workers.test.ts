/** Live keys of the worker side, reloaded in a running daemon: concurrency, the post-sync command, log level. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { validateConfig } from '../../src/config/index.js';
import { silentLogger } from '../../src/log/index.js';
import { FILE_SYNC_SINGLE, UPLOAD_QUEUE } from '../../src/queue/index.js';
import { createStorage } from '../../src/storage/index.js';
import { createOutageGate, createUploadWorker, noSyncMetrics } from '../../src/sync/index.js';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, tempDir, uniqueName, writeTree } from '../helpers/daemon.js';
import { capturingLogger, gatedStorage, startLiveApp } from './live-app.js';

/** 0.5 s in the config's minutes. */
const HALF_SECOND_IN_MINUTES = 0.5 / 60;

async function lineCount(file: string): Promise<number> {
  try {
    return (await readFile(file, 'utf8')).split('\n').filter(Boolean).length;
  } catch {
    return 0;
  }
}

function files(count: number, prefix: string): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}.narinfo`, `${prefix}${i}`]));
}

describe('reloading worker-side keys in a running daemon', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('concurrency changes the number of uploads in flight, up and down', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const raw = rawConfig(redis, s3, { daemon: { concurrency: 2 } }, bucket);
    const gate = gatedStorage(createStorage(validateConfig(raw)));
    const daemon = await startLiveApp(raw, { storage: gate.storage });
    // Redis marks a job active when a worker takes it, before its upload starts: Redis
    // agreeing with the gate on the count shows no worker took one more meanwhile.
    const settle = () =>
      waitFor(async () => (await daemon.app.uploads.getJobCounts('active')).active === gate.held(), {
        what: 'Redis to show the uploads held as the only active jobs',
      });
    try {
      await writeTree(src, files(20, 'f'));
      assert.equal((await daemon.post('/publish', [{ from: src, to: 'store/' }])).status, 200);
      await waitFor(() => gate.held() === 2, { what: '2 uploads in flight' });
      await settle();
      assert.equal(gate.maxInFlight(), 2, 'concurrency 2: never more');

      await daemon.reconfigure({ daemon: { concurrency: 6 } });
      // BullMQ fetches more once a running job finishes: let one through.
      gate.releaseOne();
      await waitFor(() => gate.held() === 6, { what: '6 uploads in flight' });
      await settle();
      assert.equal(gate.maxInFlight(), 6, 'concurrency 6');

      await daemon.reconfigure({ daemon: { concurrency: 1 } });
      gate.resetMax();
      gate.releaseHeld();
      await waitFor(() => gate.held() === 1 && gate.inFlight() === 1, { what: 'the held uploads to finish and one more to start' });
      await settle();
      assert.equal(gate.inFlight(), 1, 'concurrency 1: one at a time once the running ones finished');

      gate.openGate();
      await daemon.idle();
      assert.equal((await listKeys(s3, bucket)).length, 20);
    } finally {
      gate.openGate();
      await daemon.close();
    }
  });

  it('the post-sync command starts running when switched on and stops when switched off', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const out = join(await tempDir('hook-out'), 'runs');
    const hook = {
      ssh_command: `echo "$SYNC4LOONG_UPLOADED_COUNT" >> ${out}`,
      ssh_shell: true,
      ssh_debounce_minutes: HALF_SECOND_IN_MINUTES,
      shutdown_timeout_seconds: 5,
    };
    const daemon = await startLiveApp(rawConfig(redis, s3, { daemon: { ...hook, enable_ssh_task: false } }, bucket));
    const publish = async (name: string) => {
      await writeTree(src, { [name]: name });
      assert.equal((await daemon.post('/publish', [{ from: join(src, name), to: `store/${name}` }])).status, 200);
      await daemon.idle();
    };
    try {
      await publish('off-1.narinfo');
      assert.equal((await daemon.get('/hooks/runs')).body.enabled, false);

      const result = await daemon.reconfigure({ daemon: { ...hook, enable_ssh_task: true } });
      assert.deepEqual(result.changed, ['daemon.enable_ssh_task']);
      assert.equal((await daemon.get('/hooks/runs')).body.enabled, true);
      await publish('on-1.narinfo');
      await publish('on-2.narinfo');
      await waitFor(async () => (await lineCount(out)) === 1, { what: 'the command to run once' });
      assert.equal((await readFile(out, 'utf8')).trim(), '2', 'the two uploads made while on (the one made while off was never recorded)');

      // Another command (and debounce) for the next run.
      const otherOut = `${out}.other`;
      const other = { ...hook, ssh_command: `echo "other $SYNC4LOONG_UPLOADED_COUNT" >> ${otherOut}`, ssh_debounce_minutes: 0.3 / 60 };
      assert.deepEqual((await daemon.reconfigure({ daemon: { ...other, enable_ssh_task: true } })).changed, [
        'daemon.ssh_command',
        'daemon.ssh_debounce_minutes',
      ]);
      await publish('on-3.narinfo');
      await waitFor(async () => (await lineCount(otherOut)) === 1, { what: 'the new command to run' });
      assert.equal((await readFile(otherOut, 'utf8')).trim(), 'other 1');
      assert.equal(await lineCount(out), 1, 'the old command did not run again');

      await daemon.reconfigure({ daemon: { ...hook, enable_ssh_task: false } });
      await publish('off-2.narinfo');
      // The upload is done (publish waits for it) and its notification recorded: had it armed a run, the job would be there.
      await daemon.app.hooks.flush();
      assert.equal(await lineCount(out), 1, 'switched off: no further run');
      const counts = await daemon.app.hooks.queue.getJobCounts('waiting', 'delayed', 'active');
      assert.deepEqual(counts, { waiting: 0, delayed: 0, active: 0 }, 'nothing was armed');
    } finally {
      await daemon.close();
    }
  });

  it('log level: debug lines appear after a reload to debug and stop after a reload to warn', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const { log, lines } = capturingLogger('info');
    const daemon = await startLiveApp(rawConfig(redis, s3, { daemon: { log_level: 'info' } }, bucket), { log });
    const publish = async (name: string) => {
      await writeTree(src, { [name]: name });
      assert.equal((await daemon.post('/publish', [{ from: join(src, name), to: `store/${name}` }])).status, 200);
      await daemon.idle();
    };
    const linesOf = (msg: string, key: string) => lines.filter((line) => line.includes(`msg="${msg}"`) && line.includes(key));
    try {
      await publish('a.narinfo');
      assert.equal(linesOf('file uploaded', 'store/a.narinfo').length, 1);
      assert.equal(linesOf('upload job started', 'store/a.narinfo').length, 0, 'no debug lines at info');

      await daemon.reconfigure({ daemon: { log_level: 'debug' } });
      await publish('b.narinfo');
      assert.equal(linesOf('upload job started', 'store/b.narinfo').length, 1, 'debug lines at debug');

      await daemon.reconfigure({ daemon: { log_level: 'warn' } });
      await publish('c.narinfo');
      assert.equal(linesOf('upload job started', 'store/c.narinfo').length + linesOf('file uploaded', 'store/c.narinfo').length, 0);
    } finally {
      await daemon.close();
    }
  });

  it('a new upload timeout (publish.timeout_minutes) applies to uploads started after the update', async () => {
    // The config's timeout is whole minutes: this drives the worker's update() with milliseconds.
    const connection = { host: '127.0.0.1', port: redis.port };
    const prefix = uniqueName('t');
    const queue = new Queue(UPLOAD_QUEUE, { connection, prefix });
    // An upload that only ends when the worker aborts it.
    const fileSync = (_data: unknown, signal?: AbortSignal) =>
      new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    const log = silentLogger();
    const outage = createOutageGate({ ping: async () => {}, log }, { probeIntervalMs: 1000 });
    const worker = createUploadWorker(
      { fileSync, log, metrics: noSyncMetrics, outage },
      { connection: { ...connection, maxRetriesPerRequest: null }, prefix, concurrency: 1, timeoutMs: 60_000, shutdownTimeoutMs: 1000 },
    );
    try {
      worker.update({ concurrency: 1, timeoutMs: 300, shutdownTimeoutMs: 1000 });
      await worker.start();
      const data = { file_path: '/tmp/x/a', s3_key: 'store/a', root: '/tmp/x', size: 1, delete_after_sync: false, overwrite: false };
      const job = await queue.add(FILE_SYNC_SINGLE, data, { attempts: 1 });
      const failed = await waitFor(async () => ((await job.isFailed()) ? await queue.getJob(job.id!) : undefined), {
        timeoutMs: 10_000,
        what: 'the job to time out',
      });
      assert.match(failed!.failedReason, /upload timed out after 0 s/);
    } finally {
      await worker.close();
      await queue.close();
    }
  });
});
