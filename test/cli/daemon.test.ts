import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import {
  createBucket,
  getObject,
  listKeys,
  projectRoot,
  rawConfig,
  request,
  startDaemonProcess,
  tempDir,
  writeTree,
} from '../helpers/daemon.js';

const bin = join(projectRoot, 'bin', 'sync4loong');

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('sync4loong CLI', () => {
  it('prints help', () => {
    const result = cli(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /sync4loong daemon \[--config FILE\]/);
  });

  it('reports every bad key at once and exits non-zero before touching Redis', async () => {
    const dir = await tempDir('cfg');
    const file = join(dir, 'bad.toml');
    await writeFile(file, '[redis]\naddr = "nowhere"\ndb = 99\n[publish]\nmax_retry = 11\n[s3]\nendpoint = "not a url"\n');
    const result = cli(['daemon', '--config', file]);
    assert.equal(result.code, 2);
    for (const key of ['redis.addr', 'redis.db', 'publish.max_retry', 's3.endpoint', 's3.bucket', 's3.secret_key']) {
      assert.match(result.stderr, new RegExp(key.replace('.', '\\.')), `mentions ${key}`);
    }
  });

  it('prints the effective config with secrets redacted, env overriding the file', async () => {
    const dir = await tempDir('cfg');
    const file = join(dir, 'seed.toml');
    await writeFile(
      file,
      '[redis]\naddr = "localhost:6379"\npassword = "hunter2-redis"\n[s3]\nendpoint = "http://s3.local"\nregion = "r"\nbucket = "b"\naccess_key = "AKIA-ACCESS"\nsecret_key = "file-secret"\n[cache]\nallowed_prefixes = ["store/"]\n',
    );
    const result = cli(['config', '--config', file], {
      SYNC4LOONG_S3_SECRET_KEY: 'env-secret-value',
      SYNC4LOONG_CACHE_ALLOWED_PREFIXES: 'store/, nix/',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stdout, /hunter2-redis|AKIA-ACCESS|file-secret|env-secret-value/);
    assert.match(result.stdout, /allowed_prefixes = \[ "store\/", "nix\/" \]/);
    assert.match(result.stdout, /secret_key = "\*+"/);
  });
});

describe('the daemon as a process', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('takes a nested key from the environment (SYNC4LOONG_STORAGE_ROOT, SYNC4LOONG_HTTP_ADDR)', async () => {
    const bucketRoot = await tempDir('bucket');
    const src = await tempDir();
    await writeTree(src, { 'x/y.txt': 'from env' });
    const port = await freePort();
    const raw = rawConfig(redis, undefined, { storage: { type: 'fs', root: '/nonexistent/overridden' } });
    const daemon = await startDaemonProcess(raw, { SYNC4LOONG_STORAGE_ROOT: bucketRoot, SYNC4LOONG_HTTP_ADDR: `127.0.0.1:${port}` });
    try {
      assert.equal(daemon.url, `http://127.0.0.1:${port}`);
      const reply = await request(daemon.url, 'POST', '/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200);
      const stored = await waitFor(() => readFile(join(bucketRoot, 'store', 'x', 'y.txt'), 'utf8'), { what: 'object in fs bucket' });
      assert.equal(stored, 'from env');
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
  });

  it('finishes running uploads on SIGTERM, exits 0, and a restart completes the rest', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const files: Record<string, Buffer> = {};
    for (let i = 0; i < 120; i += 1) files[`nar/${String(i).padStart(3, '0')}.nar.xz`] = Buffer.alloc(512 * 1024, i);
    await writeTree(src, files);
    const raw = rawConfig(redis, s3, { daemon: { concurrency: 2 } }, bucket);

    const first = await startDaemonProcess(raw);
    const reply = await request(first.url, 'POST', '/publish', [{ from: src, to: 'store/' }]);
    assert.equal(reply.body.total_files, 120);
    await waitFor(async () => (await listKeys(s3, bucket)).length >= 10, { what: 'first uploads' });
    assert.equal(await first.stop('SIGTERM'), 0, first.output());
    const afterStop = (await listKeys(s3, bucket)).length;
    assert.ok(afterStop < 120, `the stop overlapped the work (${afterStop} of 120 uploaded)`);
    assert.match(first.output(), /msg="daemon stopped"/);

    raw.http = {}; // a port of its own
    const second = await startDaemonProcess(raw);
    try {
      await waitFor(async () => (await listKeys(s3, bucket)).length === 120, { timeoutMs: 60_000, what: 'all 120 objects' });
      for (const [path, content] of Object.entries(files)) {
        const object = await getObject(s3, bucket, `store/${path}`);
        assert.ok(object.body.equals(content), `${path} intact`);
      }
    } finally {
      assert.equal(await second.stop('SIGINT'), 0);
    }
  });
});
