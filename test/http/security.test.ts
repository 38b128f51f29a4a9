import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis, startS3, waitFor, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, request, tempDir, writeTree } from '../helpers/daemon.js';
import { createApp, type App } from '../../src/app.js';
import { validateConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';

const TOKEN = 'token-0123456789abcdef';
const OTHER_TOKEN = 'other-token-fedcba9876543210';

describe('authentication and allowed roots', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let app: App;
  let bucket: string;
  let allowed: string;
  let outside: string;
  const logLines: string[] = [];
  const auth = { authorization: `Bearer ${TOKEN}` };

  before(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3()]);
    bucket = await createBucket(s3);
    allowed = await tempDir('allowed');
    outside = await tempDir('outside');
    await writeFile(join(outside, 'secret.txt'), 'do not publish');
    const raw = rawConfig(
      redis,
      s3,
      { http: { auth_tokens: [TOKEN, OTHER_TOKEN] }, publish: { allowed_roots: [allowed] }, daemon: { log_level: 'debug' } },
      bucket,
    );
    const config = validateConfig(raw);
    const log = createLogger({ level: 'debug', write: (line) => logLines.push(line) });
    app = createApp(config, { log, listen: { host: '127.0.0.1', port: 0 } });
    await app.start();
  });
  after(async () => {
    await app.close();
    await Promise.all([redis.destroy(), s3.destroy()]);
  });

  it('refuses requests without a valid token with 401 and WWW-Authenticate', async () => {
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Bearer wrong-token-000000000' },
      { authorization: 'Basic Zm9vOmJhcg==' },
    ]) {
      const response = await fetch(`${app.url}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '[]',
      });
      assert.equal(response.status, 401);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm="sync4loong"/);
      assert.match(((await response.json()) as { error: string }).error, /token|authentication/);
    }
  });

  it('accepts Bearer tokens and Basic auth with a token as password; health checks stay public', async () => {
    assert.equal((await request(app.url, 'POST', '/publish', [], auth)).status, 400, 'authenticated: validation answers');
    const basic = `Basic ${Buffer.from(`anyone:${OTHER_TOKEN}`).toString('base64')}`;
    assert.equal((await request(app.url, 'POST', '/publish', [], { authorization: basic })).status, 400);
    assert.equal((await request(app.url, 'GET', '/healthz')).status, 200);
    assert.equal((await request(app.url, 'GET', '/readyz')).status, 200);
    const ui = await fetch(`${app.url}/monitoring`);
    assert.equal(ui.status, 401);
    assert.match(ui.headers.get('www-authenticate') ?? '', /^Basic realm="sync4loong"/, 'browsers get a Basic prompt for the UI');
  });

  it('never logs a token', () => {
    const text = logLines.join('');
    assert.ok(text.length > 0);
    assert.ok(!text.includes(TOKEN) && !text.includes(OTHER_TOKEN));
  });

  it('refuses a from outside the allowed roots with 403, also through a symlink', async () => {
    const direct = await request(app.url, 'POST', '/publish', [{ from: outside, to: 'store/' }], auth);
    assert.equal(direct.status, 403);
    assert.equal(direct.body.error, `'from' is outside the allowed roots for item 0: ${outside}`);
    await symlink(outside, join(allowed, 'escape-dir'));
    const viaLink = await request(app.url, 'POST', '/publish', [{ from: join(allowed, 'escape-dir'), to: 'store/' }], auth);
    assert.equal(viaLink.status, 403);
    const etc = await request(app.url, 'POST', '/publish', [{ from: '/etc/hostname', to: 'store/' }], auth);
    assert.equal(etc.status, 403);
  });

  it('skips and reports files inside a folder that escape through symlinks, never uploads them', async () => {
    const folder = join(allowed, 'cache');
    await writeTree(folder, { 'ok.narinfo': 'fine', 'nar/ok.nar.xz': 'fine too' });
    await symlink(join(outside, 'secret.txt'), join(folder, 'leak.txt'));
    await mkdir(join(folder, 'sub'));
    await symlink(outside, join(folder, 'sub', 'leakdir'));
    const reply = await request(app.url, 'POST', '/publish', [{ from: folder, to: 'store/' }], auth);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal(reply.body.total_files, 2);
    assert.equal(reply.body.skipped_count, 2);
    assert.deepEqual(reply.body.skipped.map((entry: { path: string }) => entry.path).sort(), [
      join(folder, 'leak.txt'),
      join(folder, 'sub', 'leakdir'),
    ]);
    await waitFor(async () => (await listKeys(s3, bucket)).length === 2, { what: 'two uploads' });
    assert.deepEqual(await listKeys(s3, bucket), ['store/nar/ok.nar.xz', 'store/ok.narinfo']);
  });

  it('the worker re-validates jobs written to Redis by anything else', async () => {
    const job = await app.uploads.add('file_sync_single', {
      file_path: join(outside, 'secret.txt'),
      s3_key: 'store/stolen.txt',
      delete_after_sync: false,
      overwrite: false,
      root: outside,
      size: 14,
    });
    const reason = await waitFor(async () => (await app.uploads.getJob(job.id!))?.failedReason, { what: 'job to fail' });
    assert.match(reason!, /outside the allowed roots/);
    const traversal = await app.uploads.add('file_sync_single', {
      file_path: join(allowed, 'cache', 'ok.narinfo'),
      s3_key: 'store/../../etc/x',
      delete_after_sync: false,
      overwrite: false,
      root: join(allowed, 'cache'),
      size: 4,
    });
    const reason2 = await waitFor(async () => (await app.uploads.getJob(traversal.id!))?.failedReason, { what: 'job to fail' });
    assert.match(reason2!, /invalid job data/);
    assert.ok(!(await listKeys(s3, bucket)).some((key) => key.includes('stolen') || key.includes('etc')));
  });
});
