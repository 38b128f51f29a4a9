/** Live keys of the HTTP side, reloaded in a running daemon: tokens, read-only UI, roots, job options, limits. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, getObject, rawConfig, tempDir, writeTree } from '../helpers/daemon.js';
import { capturingLogger, startLiveApp } from './live-app.js';

const TOKEN = 'reloaded-token-0123456789';
const OTHER_TOKEN = 'rotated-token-0123456789';

describe('reloading HTTP-side keys in a running daemon', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('auth tokens and public_check take effect at once; health stays public', async () => {
    const daemon = await startLiveApp(rawConfig(redis, s3, {}, await createBucket(s3)));
    try {
      assert.equal((await daemon.get('/hooks/runs')).status, 200, 'no tokens: open (the seed)');

      const result = await daemon.reconfigure({ http: { auth_tokens: [TOKEN] } });
      assert.deepEqual(result.changed, ['http.auth_tokens']);
      assert.equal((await daemon.get('/hooks/runs')).status, 401);
      assert.equal((await daemon.get('/hooks/runs', { authorization: `Bearer ${TOKEN}` })).status, 200);
      assert.equal((await daemon.get('/readyz')).status, 200);

      await daemon.reconfigure({ http: { auth_tokens: [OTHER_TOKEN] } });
      assert.equal((await daemon.get('/hooks/runs', { authorization: `Bearer ${TOKEN}` })).status, 401, 'a removed token is refused');
      assert.equal((await daemon.get('/hooks/runs', { authorization: `Bearer ${OTHER_TOKEN}` })).status, 200);

      assert.equal((await daemon.get('/check/store/x.narinfo')).status, 401);
      await daemon.reconfigure({ http: { auth_tokens: [OTHER_TOKEN], public_check: true } });
      const check = await daemon.get('/check/store/x.narinfo');
      assert.equal(check.status, 200, `public_check lets /check through: ${JSON.stringify(check.body)}`);
      assert.equal(check.body.exists, false, 'the bucket is empty');
      assert.equal(check.body.s3_key, 'store/x.narinfo');
      assert.equal((await daemon.get('/hooks/runs')).status, 401, 'other routes still need the token');
    } finally {
      await daemon.close();
    }
  });

  it('read-only mode switches both ways: writes refused at once, the UI API reports the mode', async () => {
    const daemon = await startLiveApp(rawConfig(redis, s3, {}, await createBucket(s3)));
    const queue = daemon.app.uploads;
    const api = '/monitoring/api/queues';
    const readOnlyMode = async () => (await daemon.get(`${api}?activeQueue=uploads`)).body.queues[0].readOnlyMode as boolean;
    try {
      assert.equal(await readOnlyMode(), false);
      assert.equal((await daemon.put(`${api}/uploads/pause`)).status, 200);
      assert.equal(await queue.isPaused(), true, 'the control: a UI write works with read-only off');
      await queue.resume();

      await daemon.reconfigure({ asynqmon: { read_only_mode: true } });
      const refused = await daemon.put(`${api}/uploads/pause`);
      assert.equal(refused.status, 403);
      assert.match(refused.body.error, /read-only/);
      assert.equal((await daemon.put(`${api}/pause`)).status, 403, 'board-wide writes too');
      assert.equal(await queue.isPaused(), false, 'nothing changed in Redis');
      assert.equal(await readOnlyMode(), true, 'the page hides its buttons on its next poll');

      await daemon.reconfigure({ asynqmon: { read_only_mode: false } });
      assert.equal(await readOnlyMode(), false);
      assert.equal((await daemon.put(`${api}/uploads/pause`)).status, 200);
      assert.equal(await queue.isPaused(), true);
      await queue.resume();
    } finally {
      await daemon.close();
    }
  });

  it('allowed roots, max_items, retries and backoff apply to the next publish; compare to the next upload', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const elsewhere = await tempDir('elsewhere');
    const daemon = await startLiveApp(rawConfig(redis, s3, {}, bucket));
    try {
      await writeTree(src, { 'a.narinfo': 'aaaa', 'b.narinfo': 'b' });

      await daemon.reconfigure({ publish: { allowed_roots: [elsewhere] } });
      const outside = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(outside.status, 403, JSON.stringify(outside.body));

      await daemon.reconfigure({ publish: { allowed_roots: [src], max_items: 1, max_retry: 7, retry_backoff_seconds: 3 } });
      const two = [
        { from: join(src, 'a.narinfo'), to: 'store/a.narinfo' },
        { from: join(src, 'b.narinfo'), to: 'store/b.narinfo' },
      ];
      assert.equal((await daemon.post('/publish', two)).status, 400, 'max_items = 1');
      assert.equal((await daemon.post('/publish', [two[0]])).status, 200);
      await daemon.idle();
      const [job] = (await daemon.app.uploads.getJobs(['completed'])).filter((j) => j.data.s3_key === 'store/a.narinfo');
      assert.equal(job?.opts.attempts, 8, 'max_retry 7 + the first try');
      assert.deepEqual(job?.opts.backoff, { type: 'exponential', delay: 3000 });
      assert.equal((await getObject(s3, bucket, 'store/a.narinfo')).body.toString(), 'aaaa');

      // Same size, other content: size mode skips it...
      await writeFile(join(src, 'a.narinfo'), 'AAAA');
      assert.equal((await daemon.post('/publish', [two[0]])).status, 200);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/a.narinfo')).body.toString(), 'aaaa', 'size mode: skipped');
      // ...checksum mode uploads it.
      await daemon.reconfigure({ publish: { allowed_roots: [src], compare: 'checksum' } });
      assert.equal((await daemon.post('/publish', [two[0]])).status, 200);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/a.narinfo')).body.toString(), 'AAAA', 'checksum mode: uploaded');
    } finally {
      await daemon.close();
    }
  });

  it('keeps restart-only keys, names them in a warning and in /readyz; refuses an invalid config and shows why', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const { log, lines } = capturingLogger('info');
    const raw = rawConfig(redis, s3, {}, bucket);
    const daemon = await startLiveApp(raw, { log });
    try {
      const started = (await daemon.get('/readyz')).body;
      assert.equal(started.role, 'all');
      assert.match(started.config.hash, /^[0-9a-f]{12}$/);
      assert.equal(started.config.last_reload_error, null);

      const result = await daemon.reconfigure({
        s3: { bucket: 'another-bucket' },
        http: { body_limit_bytes: 2048 },
        daemon: { concurrency: 3 },
      });
      assert.deepEqual(result.changed, ['daemon.concurrency']);
      assert.match(lines.find((line) => line.includes('need a restart')) ?? '', /keys=s3\.bucket,http\.body_limit_bytes/);
      assert.equal(daemon.app.config.s3.bucket, bucket);
      const ready = (await daemon.get('/readyz')).body;
      assert.deepEqual(ready.config.restart_pending, ['s3.bucket', 'http.body_limit_bytes']);
      assert.notEqual(ready.config.hash, started.config.hash, 'concurrency changed the running config');
      assert.equal(ready.config.reloads, 1);
      await writeTree(src, { 'x.narinfo': 'x' });
      assert.equal((await daemon.post('/publish', [{ from: src, to: 'store/' }])).status, 200);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/x.narinfo')).body.toString(), 'x', 'still the running bucket');

      const refused = await daemon.reconfigure({ daemon: { concurrency: 0 }, publish: { max_retry: 42 } });
      assert.equal(refused.outcome, 'rejected');
      const errors = lines.filter((line) => line.includes('config reload refused'));
      assert.equal(errors.length, 2);
      assert.ok(errors.every((line) => line.includes(' level=error ')));
      const readyz = await daemon.get('/readyz');
      assert.equal(readyz.status, 200, 'still ready: the running config stays');
      assert.equal(readyz.body.config.hash, ready.config.hash);
      assert.deepEqual(readyz.body.config.last_reload_error.problems.length, 2);
      assert.match(readyz.body.config.last_reload_error.problems.join('\n'), /daemon\.concurrency[\s\S]*publish\.max_retry/);
      const stats = (await daemon.get('/stats')).body;
      assert.equal(stats.config.last_reload_error.reason, 'test');
      assert.equal(daemon.app.config.daemon.concurrency, 3);
      await writeTree(src, { 'y.narinfo': 'y' });
      assert.equal((await daemon.post('/publish', [{ from: src, to: 'store/' }])).status, 200, 'the old config keeps working');
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/y.narinfo')).body.toString(), 'y');
    } finally {
      await daemon.close();
    }
  });
});
