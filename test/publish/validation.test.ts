import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis, waitFor, type RedisServer } from '../helpers/servers.js';
import { rawConfig, request, startApp, tempDir, writeTree, type TestApp } from '../helpers/daemon.js';

describe('POST /publish validation', () => {
  let redis: RedisServer;
  let daemon: TestApp;
  let src: string;
  let empty: string;
  before(async () => {
    redis = await startRedis();
    const bucketRoot = await tempDir('bucket');
    daemon = await startApp(rawConfig(redis, undefined, { storage: { type: 'fs', root: bucketRoot } }));
    src = await tempDir();
    await writeTree(src, { 'a.txt': 'a' });
    empty = join(src, 'empty');
    await mkdir(join(empty, 'nested'), { recursive: true });
  });
  after(async () => {
    await daemon.close();
    await redis.destroy();
  });

  const cases: Array<[string, () => unknown, number, string | RegExp | (() => string)]> = [
    ['missing from', () => [{ to: 'store/' }], 400, "'from' field is required for item 0"],
    ['missing to', () => [{ from: src, to: 'store/' }, { from: src }], 400, "'to' field is required for item 1"],
    ['empty to', () => [{ from: src, to: '' }], 400, "'to' field is required for item 0"],
    ['relative from', () => [{ from: 'relative/path', to: 'store/' }], 400, "'from' must be an absolute path for item 0"],
    ['missing source', () => [{ from: join(src, 'nope'), to: 'store/' }], 400, /^source path does not exist: .*nope \(item 0\)$/],
    ['empty directory', () => [{ from: empty, to: 'store/' }], 400, () => `directory is empty: ${empty}`],
    ['dot-dot in to', () => [{ from: src, to: 'store/../etc/' }], 400, /'to' path traversal detected \(a '\.\.' segment\) for item 0/],
    ['absolute to', () => [{ from: src, to: '/etc/' }], 400, /'to' must be a relative key/],
    ['control character', () => [{ from: src, to: 'store/\u0001/' }], 400, /control characters/],
    ['wrong type of from', () => [{ from: 42, to: 'store/' }], 400, "'from' must be a string for item 0"],
    ['wrong type of flag', () => [{ from: src, to: 'store/', overwrite: 'yes' }], 400, "'overwrite' must be true or false for item 0"],
    ['not an array', () => ({ from: src, to: 'store/' }), 400, /must be a JSON array/],
    ['empty array', () => [], 400, /no items/],
    ['item not an object', () => ['x'], 400, /item 0 must be an object/],
  ];
  for (const [name, body, status, message] of cases) {
    it(`answers ${status} for ${name}`, async () => {
      const reply = await daemon.post('/publish', body());
      assert.equal(reply.status, status);
      assert.equal(reply.body.success, false);
      if (typeof message === 'function') assert.equal(reply.body.error, message());
      else if (typeof message === 'string') assert.equal(reply.body.error, message);
      else assert.match(reply.body.error, message);
    });
  }

  it('enqueues nothing when a later item is invalid', async () => {
    const reply = await daemon.post('/publish', [
      { from: src, to: 'store/' },
      { from: join(src, 'nope'), to: 'x/' },
    ]);
    assert.equal(reply.status, 400);
    const counts = await daemon.app.uploads.getJobCounts();
    assert.equal(
      Object.values(counts).reduce((a, b) => a + b, 0),
      0,
    );
  });

  it('ignores unknown fields, as the Go daemon did', async () => {
    const reply = await daemon.post('/publish', [{ from: src, to: 'store/', priority: 'high' }]);
    assert.equal(reply.status, 200);
    assert.equal(reply.body.total_files, 1);
    await daemon.idle();
  });

  it('answers bad JSON and wrong content types with 4xx JSON errors', async () => {
    const badJson = await request(daemon.url, 'POST', '/publish', '[{"from": ', { 'content-type': 'application/json' });
    assert.equal(badJson.status, 400);
    assert.equal(badJson.body.success, false);
    assert.match(badJson.body.error, /not valid JSON/);
    // Read as JSON whatever the Content-Type (the Go daemon's rule): a form body is bad JSON.
    const form = await request(daemon.url, 'POST', '/publish', 'from=/x', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 400);
    assert.deepEqual(form.body, { success: false, error: 'request body is not valid JSON' });
    const checkForm = await request(daemon.url, 'POST', '/check', 'keys=x', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(checkForm.status, 415);
    assert.match(checkForm.body.error, /content type/);
    const unknownRoute = await daemon.get('/nope');
    assert.equal(unknownRoute.status, 404);
    assert.match(unknownRoute.body.error, /not found/);
  });

  it('answers 503 when Redis is down, then works again when it is back', async () => {
    await redis.stop();
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 503);
      assert.equal(reply.body.success, false);
      assert.match(reply.body.error, /Redis/);
    } finally {
      await redis.start();
    }
    const reply = await waitForOk(() => daemon.post('/publish', [{ from: src, to: 'store/' }]));
    assert.equal(reply.body.total_files, 1);
    await daemon.idle();
  });
});

async function waitForOk(call: () => Promise<{ status: number; body: any }>): Promise<{ status: number; body: any }> {
  const ok = await waitFor(
    async () => {
      const reply = await call();
      return reply.status === 200 ? reply : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'a 200' },
  );
  return ok!;
}
