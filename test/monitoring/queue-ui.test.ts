import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Queue } from 'bullmq';
import type { Page } from 'playwright-core';
import { createHttpServer, registerQueueUi } from '../../src/http/index.js';
import { startRedis, startS3, waitFor, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, testLogger, writeTree, type TestApp } from '../helpers/daemon.js';
import { launchBrowser, type TestBrowser } from '../helpers/browser.js';
import { GONE_REASON, publishVanishingFile } from './jobs.js';

/** Three files uploaded, one failed for good: the state both UI tests start from. */
async function completedAndFailed(daemon: TestApp, src: string): Promise<string> {
  await writeTree(src, { 'a.narinfo': 'a', 'nar/a.nar.xz': 'aa', 'nix-cache-info': 'StoreDir: /nix/store\n' });
  const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  await daemon.idle();
  return publishVanishingFile(daemon, src, 'store/gone.narinfo');
}

/** Sends a request from the page, as the UI's own scripts do. */
async function fromPage(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
  return page.evaluate(
    async ({ method, path, body }) => {
      const init: RequestInit = { method };
      if (body !== undefined) {
        init.body = JSON.stringify(body);
        init.headers = { 'content-type': 'application/json' };
      }
      const response = await fetch(path, init);
      return { status: response.status, body: await response.text() };
    },
    { method, path, body },
  );
}

/** The icon buttons (retry, duplicate, edit, remove) in a job card's header. */
const JOB_ACTION_BUTTONS = '[class*="jobActions"] button';

async function statusTabText(page: Page, status: string): Promise<string> {
  return (await page.locator(`a[href$="/queue/uploads?status=${status}"]:has(span[data-text])`).first().innerText())
    .replace(/\s+/g, ' ')
    .trim();
}

describe('queue UI (bull-board) in a real browser', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let browser: TestBrowser;
  before(async () => {
    [redis, s3, browser] = await Promise.all([startRedis(), startS3(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close();
    await Promise.all([redis?.destroy(), s3?.destroy()]);
  });

  it('shows the uploads queue with its job counts and a failed job with its reason', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    const page = await browser.newPage();
    try {
      const failedId = await completedAndFailed(daemon, src);

      await page.goto(`${daemon.url}/monitoring`, { waitUntil: 'domcontentloaded' });
      await page.getByRole('link', { name: 'uploads' }).first().waitFor();
      assert.equal(await page.title(), 'sync4loong');
      await page.getByText('4 Jobs').waitFor();

      await page.goto(`${daemon.url}/monitoring/queue/uploads?status=failed`, { waitUntil: 'domcontentloaded' });
      await page.getByText(GONE_REASON).first().waitFor();
      assert.equal(await statusTabText(page, 'completed'), 'COMPLETED 3');
      assert.equal(await statusTabText(page, 'failed'), 'FAILED 1');
      assert.ok(await page.locator(`a[href*="/queue/uploads/${failedId}"]`).count(), 'the failed job is listed by its id');
      assert.ok(await page.getByText(join(src, 'store_gone.narinfo')).first().isVisible(), 'the reason names the missing file');
      // Write actions are offered when read-only mode is off (the control of the read-only test).
      await page.getByRole('button', { name: 'Retry all' }).waitFor();
      assert.ok((await page.locator(JOB_ACTION_BUTTONS).count()) > 0, 'the job card offers its actions');
    } finally {
      await page.close();
      await daemon.close();
    }
  });

  it('read-only mode hides write actions, refuses every write request and changes nothing in Redis', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const daemon = await startApp(rawConfig(redis, s3, { asynqmon: { read_only_mode: true } }, bucket));
    const page = await browser.newPage();
    try {
      const failedId = await completedAndFailed(daemon, src);
      const queue = daemon.app.uploads;
      const countsBefore = await queue.getJobCounts();
      const jobBefore = (await queue.getJob(failedId))!;

      await page.goto(`${daemon.url}/monitoring/queue/uploads?status=failed`, { waitUntil: 'domcontentloaded' });
      await page.getByText(GONE_REASON).first().waitFor();
      assert.equal(await statusTabText(page, 'failed'), 'FAILED 1');
      assert.equal(await page.getByRole('button', { name: 'Retry all' }).count(), 0, 'no Retry all button');
      assert.equal(await page.getByRole('button', { name: 'Clean all' }).count(), 0, 'no Clean all button');
      assert.equal(await page.locator(JOB_ACTION_BUTTONS).count(), 0, 'no retry / remove / edit buttons on the job');

      // The UI's API still reads...
      const read = await fromPage(page, 'GET', 'api/queues');
      assert.equal(read.status, 200);
      assert.equal(JSON.parse(read.body).queues[0].readOnlyMode, true);
      // ...and refuses every write, whoever sends it.
      const api = `api/queues/uploads`;
      const writes: Array<[string, string, unknown?]> = [
        ['PUT', `${api}/${failedId}/retry`],
        ['PUT', `${api}/retry/failed`],
        ['PUT', `${api}/${failedId}/clean`],
        ['PUT', `${api}/clean/failed`],
        ['PUT', `${api}/clean/completed`],
        ['PUT', `${api}/${failedId}/promote`],
        ['PUT', `${api}/promote`],
        ['PUT', `${api}/pause`],
        ['PUT', `api/queues/pause`],
        ['PUT', `${api}/empty`],
        ['PUT', `${api}/obliterate`, { force: true }],
        ['PUT', `${api}/concurrency`, { concurrency: 1 }],
        ['POST', `${api}/add`, { name: 'file_sync_single', data: { s3_key: 'store/evil' } }],
        ['PATCH', `${api}/${failedId}/update-data`, { jobData: { s3_key: 'store/evil' } }],
        ['PATCH', `${api}/${failedId}/priority`, { priority: 1 }],
      ];
      for (const [method, path, body] of writes) {
        const reply = await fromPage(page, method, path, body);
        assert.equal(reply.status, 403, `${method} ${path} answered ${reply.status} ${reply.body}`);
        assert.match(JSON.parse(reply.body).error, /read-only/);
      }

      const jobAfter = (await queue.getJob(failedId))!;
      assert.equal(await jobAfter.getState(), 'failed');
      assert.equal(jobAfter.attemptsMade, jobBefore.attemptsMade);
      assert.equal(jobAfter.failedReason, jobBefore.failedReason);
      assert.deepEqual(jobAfter.data, jobBefore.data);
      assert.deepEqual(await queue.getJobCounts(), countsBefore);
      assert.equal(await queue.isPaused(), false);
    } finally {
      await page.close();
      await daemon.close();
    }
  });

  it('with read-only mode off, the same retry request succeeds and the job uploads (control)', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    const page = await browser.newPage();
    try {
      const failedId = await completedAndFailed(daemon, src);
      await writeFile(join(src, 'store_gone.narinfo'), 'back again'); // so the retry can succeed
      await page.goto(`${daemon.url}/monitoring/queue/uploads?status=failed`, { waitUntil: 'domcontentloaded' });
      await page.getByText(GONE_REASON).first().waitFor();

      const reply = await fromPage(page, 'PUT', `api/queues/uploads/${failedId}/retry`);
      assert.ok(reply.status >= 200 && reply.status < 300, `retry answered ${reply.status} ${reply.body}`);
      await waitFor(async () => (await daemon.app.uploads.getJob(failedId))?.isCompleted(), { what: 'retried job to complete' });
      assert.ok((await listKeys(s3, bucket)).includes('store/gone.narinfo'));
      assert.equal((await daemon.app.uploads.getJobCounts('failed')).failed, 0);
    } finally {
      await page.close();
      await daemon.close();
    }
  });

  it('is mounted at asynqmon.root_path, and absent when asynqmon.enabled is false', async () => {
    const custom = await startApp(rawConfig(redis, s3, { asynqmon: { root_path: '/ops/queues/' } }, await createBucket(s3)));
    const page = await browser.newPage();
    try {
      await page.goto(`${custom.url}/ops/queues`, { waitUntil: 'domcontentloaded' });
      await page.getByRole('link', { name: 'uploads' }).first().waitFor();
      assert.equal((await custom.get('/ops/queues/api/queues')).body.queues[0].name, 'uploads');
      assert.equal((await custom.get('/monitoring')).status, 404);
    } finally {
      await page.close();
      await custom.close();
    }
    const disabled = await startApp(rawConfig(redis, s3, { asynqmon: { enabled: false } }, await createBucket(s3)));
    try {
      for (const path of ['/monitoring', '/monitoring/api/queues', '/monitoring/static/images/logo.svg']) {
        assert.equal((await disabled.get(path)).status, 404, path);
      }
      assert.equal((await disabled.get('/metrics')).status, 200, 'metrics do not depend on the UI');
    } finally {
      await disabled.close();
    }
  });

  it('runs guards (where authentication will sit) before the page, its assets and its API', async () => {
    const queue = new Queue('guarded', { connection: { host: '127.0.0.1', port: redis.port }, prefix: 'guard-test' });
    const http = createHttpServer({ log: testLogger() }, { bodyLimit: 1024 * 1024 });
    registerQueueUi(
      http,
      { queues: [queue], guards: [async (_request, reply) => reply.code(401).send({ error: 'authentication required' })] },
      { rootPath: '/ui/', readOnly: false },
    );
    try {
      for (const url of ['/ui', '/ui/', '/ui/api/queues', '/ui/static/images/logo.svg', '/ui/queue/guarded']) {
        const reply = await http.inject({ method: 'GET', url });
        assert.equal(reply.statusCode, 401, url);
      }
      assert.equal((await http.inject({ method: 'PUT', url: '/ui/api/queues/guarded/pause' })).statusCode, 401);
      assert.equal(await queue.isPaused(), false);
      assert.equal((await http.inject({ method: 'GET', url: '/healthz' })).statusCode, 404, 'nothing outside the UI is touched');
    } finally {
      await http.close();
      await queue.close();
    }
  });
});
