import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis, startS3, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, writeTree, type TestApp, runCli } from '../helpers/daemon.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';

const TOKEN = 'cli-test-token-0123456789';

/** Runs the CLI as a child without blocking this process (the daemon runs in it). */
function cli(args: string[], env: Record<string, string> = {}, cwd?: string) {
  return runCli(args, { env, cwd });
}

describe('sync4loong publish and check against a running daemon', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: FaultProxy;
  let daemon: TestApp;
  let bucket: string;
  before(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3()]);
    proxy = await startFaultProxy(s3.port);
    bucket = await createBucket(s3);
    proxy.addRule({ method: 'PUT', key: /^slow\//, delayMs: 150 });
    proxy.addRule({ method: 'PUT', key: 'broken/bad.txt', fail: 403 });
    daemon = await startApp(
      rawConfig(
        redis,
        { ...s3, endpoint: proxy.endpoint },
        { http: { auth_tokens: [TOKEN] }, publish: { max_retry: 0 }, daemon: { concurrency: 2 } },
        bucket,
      ),
    );
  });
  after(async () => {
    await daemon.close();
    await proxy.close();
    await Promise.all([redis.destroy(), s3.destroy()]);
  });

  it('publishes with --wait, printing plain progress lines off a terminal, and exits 0', async () => {
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'a', 'b.txt': 'b', 'sub/c.txt': 'c', 'sub/d.txt': 'd' });
    const result = await cli(['publish', '.', 'slow/', '--wait', '--url', daemon.url], { SYNC4LOONG_TOKEN: TOKEN }, src);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^batch [0-9a-f-]{36}: 4 files queued$/m);
    assert.match(result.stdout, /^done: 4 files, 4 uploaded, 0 skipped, 0 failed in \S+$/m);
    assert.match(result.stderr, /^progress: \d\/4 files \(uploaded \d, skipped 0, failed 0\) \S+$/m);
    assert.doesNotMatch(result.stderr, /\r/, 'no terminal control off a terminal');
    assert.deepEqual(
      (await listKeys(s3, bucket)).filter((key) => key.startsWith('slow/')),
      ['slow/a.txt', 'slow/b.txt', 'slow/sub/c.txt', 'slow/sub/d.txt'],
    );
    const again = await cli(['publish', '.', 'slow/', '--wait', '--url', daemon.url], { SYNC4LOONG_TOKEN: TOKEN }, src);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /^batch [0-9a-f-]{36}: 0 files queued, 4 already in the bucket$/m);
    assert.match(again.stdout, /^done: 4 files, 0 uploaded, 4 skipped, 0 failed in \S+$/m);
  });

  it('exits non-zero and names the failed file when an upload fails for good', async () => {
    const src = await tempDir();
    await writeTree(src, { 'bad.txt': 'x', 'good.txt': 'y' });
    const result = await cli(['publish', src, 'broken/', '--wait', '--url', daemon.url, '--token', TOKEN]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^failed: 2 files, 1 uploaded, 0 skipped, 1 failed in/m);
    assert.match(result.stdout, /^failed: broken\/bad\.txt: .+/m);
  });

  it('reads the URL and token from the config, and prints JSON with --json', async () => {
    const src = await tempDir();
    await writeTree(src, { 'one.txt': '1' });
    const dir = await tempDir('cfg');
    const file = join(dir, 'client.toml');
    await writeFile(file, `[http]\naddr = "${daemon.url.replace('http://', '')}"\nauth_tokens = ["${TOKEN}"]\n`);
    const result = await cli(['publish', join(src, 'one.txt'), 'cfg/one.txt', '--json', '--config', file]);
    assert.equal(result.code, 0, result.stderr);
    const reply = JSON.parse(result.stdout);
    assert.equal(reply.success, true);
    assert.equal(reply.total_files, 1);
    assert.match(reply.batch_id, /^[0-9a-f-]{36}$/);
  });

  it('exits non-zero with the daemon message when the request fails', async () => {
    const src = await tempDir();
    await writeTree(src, { 'x.txt': 'x' });
    const unauthorized = await cli(['publish', src, 'x/', '--url', daemon.url]);
    assert.equal(unauthorized.code, 1);
    assert.match(unauthorized.stderr, /publish failed: 401: authentication required/);
    const missing = await cli(['publish', join(src, 'nope'), 'x/', '--url', daemon.url, '--token', TOKEN]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /publish failed: 400: source path does not exist/);
    const nobody = await cli(['publish', src, 'x/', '--url', 'http://127.0.0.1:9', '--token', TOKEN]);
    assert.equal(nobody.code, 1);
    assert.match(nobody.stderr, /cannot reach the daemon at http:\/\/127\.0\.0\.1:9/);
    const usage = await cli(['publish', src]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /publish needs FROM and TO/);
  });

  it('check against the real daemon', async () => {
    const src = await tempDir();
    await writeTree(src, { 'present.txt': 'here' });
    const published = await cli(['publish', src, 'store/', '--wait', '--url', daemon.url, '--token', TOKEN]);
    assert.equal(published.code, 0, published.stderr);
    const present = await cli(['check', 'store/present.txt', '--url', daemon.url, '--token', TOKEN]);
    assert.equal(present.code, 0, present.stdout + present.stderr);
    assert.match(present.stdout, /^store\/present\.txt: exists \(4 bytes/m);
    const absent = await cli(['check', 'store/present.txt', 'store/absent.txt', '--url', daemon.url, '--token', TOKEN]);
    assert.equal(absent.code, 1);
    assert.match(absent.stdout, /^store\/absent\.txt: missing$/m);
  });
});

describe('sync4loong check (the /check contract)', () => {
  // Answers as GET /check/{key} is specified: 200 {exists, cached, timestamp, size, s3_key}, 400 {error}.
  let server: Server;
  let url: string;
  const seen: string[] = [];
  before(async () => {
    server = createServer((request, response) => {
      seen.push(`${request.url} ${request.headers.authorization ?? ''}`);
      const key = decodeURIComponent((request.url ?? '').replace(/^\/check\//, ''));
      response.setHeader('content-type', 'application/json');
      if (!key.startsWith('store/')) {
        response.statusCode = 400;
        response.end(JSON.stringify({ error: 'key not allowed: must start with allowed prefix', allowed_prefixes: ['store/'] }));
        return;
      }
      const exists = key.endsWith('.narinfo');
      response.end(
        JSON.stringify({ exists, cached: true, timestamp: '2024-01-01T12:00:00Z', ...(exists ? { size: 512 } : {}), s3_key: key }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('prints one line per key and exits 0 only when all exist', async () => {
    const all = await cli(['check', 'store/a.narinfo', 'store/sub dir/b+c.narinfo', '--url', url, '--token', TOKEN]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'store/a.narinfo: exists (512 bytes, cached)\nstore/sub dir/b+c.narinfo: exists (512 bytes, cached)\n');
    assert.ok(seen.includes(`/check/store/sub%20dir/b%2Bc.narinfo Bearer ${TOKEN}`), seen.join('\n'));

    const some = await cli(['check', 'store/a.narinfo', 'store/nar/x.nar.xz', 'etc/passwd', '--url', url]);
    assert.equal(some.code, 1);
    assert.equal(
      some.stdout,
      'store/a.narinfo: exists (512 bytes, cached)\nstore/nar/x.nar.xz: missing\netc/passwd: error 400: key not allowed: must start with allowed prefix\n',
    );
    const json = await cli(['check', 'store/nar/x.nar.xz', '--json', '--url', url]);
    assert.equal(json.code, 1);
    assert.equal(JSON.parse(json.stdout)[0].exists, false);
    const refused = await cli(['check', 'etc/passwd', '--json', '--url', url]);
    assert.deepEqual(JSON.parse(refused.stdout), [
      { s3_key: 'etc/passwd', target_path: 'etc/passwd', error: '400: key not allowed: must start with allowed prefix' },
    ]);
  });
});
