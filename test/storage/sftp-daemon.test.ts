/**
 * The daemon with `storage.type = "sftp"` against a real OpenSSH server: a Nix cache with a
 * 200 MiB NAR published with delete_after_sync (byte-exact, narinfos after their NARs by
 * the server's file times, nothing left locally), an upload resumed after kill -9 (bytes
 * counted at a proxy), a 20 s server outage mid-publish, and the insecure host-key warning.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { createApp } from '../../src/app.js';
import { validateConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/servers.js';
import { rawConfig, startApp, startDaemonProcess, tempDir, uniqueName, writeTree, request } from '../helpers/daemon.js';
import { waitForBatch } from '../helpers/batches.js';
import { startByteCountingProxy, startSshd, type SshServer } from '../helpers/sshd.js';

const MiB = 1024 * 1024;
let redis: RedisServer;
let server: SshServer;

before(async () => {
  [redis, server] = await Promise.all([startRedis(), startSshd()]);
});

after(async () => {
  await Promise.all([redis.destroy(), server.close()]);
});

function sftpConfig(overrides: Record<string, unknown> = {}, port = server.port) {
  return {
    storage: { type: 'sftp' },
    sftp: {
      host: '127.0.0.1',
      port,
      username: server.username,
      private_key_file: server.clientKeyFile,
      known_hosts: server.knownHostsFile,
      ...overrides,
    },
  };
}

/** Every regular file below `root`, relative paths. */
async function filesBelow(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(root, join(entry.parentPath, entry.name)));
}

async function md5OfPath(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function narinfo(hash: string): string {
  return `StorePath: /nix/store/${hash}-pkg\nURL: nar/${hash}.nar.xz\nCompression: xz\nNarHash: sha256:${hash.padEnd(52, '0')}\nNarSize: 4096\n`;
}

describe('daemon with SFTP storage', () => {
  it('publishes a Nix cache and a 200 MiB NAR byte-exact, narinfos after their NARs, deleting the local copies', async () => {
    const prefix = uniqueName('cache');
    const tree: Record<string, Buffer> = { 'nix-cache-info': Buffer.from('StoreDir: /nix/store\nPriority: 40\n') };
    for (let index = 0; index < 249; index += 1) {
      tree[`h${index}.narinfo`] = Buffer.from(narinfo(`h${index}`));
      tree[`nar/h${index}.nar.xz`] = randomBytes(1024 + index * 37);
    }
    tree['big.narinfo'] = Buffer.from(narinfo('big'));
    const src = await tempDir();
    await writeTree(src, tree);
    const big = randomBytes(200 * MiB);
    await writeFile(join(src, 'nar/big.nar.xz'), big);
    const bigMd5 = createHash('md5').update(big).digest('hex');
    const daemon = await startApp(rawConfig(redis, undefined, sftpConfig()));
    try {
      assert.equal((await daemon.get('/readyz')).status, 200);
      const reply = await daemon.post('/publish', [{ from: src, to: `${prefix}/`, delete_after_sync: true }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const result = await waitForBatch(daemon, reply.body.batch_id, 80_000);
      assert.equal(result.state, 'done', JSON.stringify(result));
      assert.equal(result.uploaded_files, 501);
    } finally {
      await daemon.close();
    }
    const remote = join(server.root, prefix);
    assert.deepEqual((await filesBelow(remote)).sort(), [...Object.keys(tree), 'nar/big.nar.xz'].sort(), 'no temporary file left');
    for (const [key, content] of Object.entries(tree)) assert.ok((await readFile(join(remote, key))).equals(content), key);
    assert.equal(await md5OfPath(join(remote, 'nar/big.nar.xz')), bigMd5);
    const mtime = async (key: string) => (await stat(join(remote, key))).mtimeMs;
    for (const hash of ['big', 'h0', 'h100', 'h248']) {
      assert.ok((await mtime(`${hash}.narinfo`)) >= (await mtime(`nar/${hash}.nar.xz`)), `${hash}.narinfo written after its NAR`);
    }
    const cacheInfo = await mtime('nix-cache-info');
    for (const key of Object.keys(tree)) assert.ok(cacheInfo >= (await mtime(key)), `nix-cache-info after ${key}`);
    assert.deepEqual(await filesBelow(src), [], 'delete_after_sync left nothing local');
  });

  it('resumes a 200 MiB upload from its temporary file after kill -9', async () => {
    const proxy = await startByteCountingProxy(server.port);
    const prefix = uniqueName('resume');
    const src = await tempDir();
    const content = randomBytes(200 * MiB);
    await writeFile(join(src, 'big.nar.xz'), content);
    const md5 = createHash('md5').update(content).digest('hex');
    const partial = join(server.root, prefix, `.big.nar.xz.${md5}.partial`);
    const raw = rawConfig(redis, undefined, {
      ...sftpConfig({ host_key_fingerprint: server.fingerprint }, proxy.port),
      daemon: { job_lock_seconds: 2, concurrency: 2 },
    });
    let daemon = await startDaemonProcess(raw);
    let restarted: Awaited<ReturnType<typeof startDaemonProcess>> | undefined;
    try {
      const reply = await request(daemon.url, 'POST', '/publish', [{ from: src, to: `${prefix}/` }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      await waitFor(async () => ((await stat(partial).catch(() => undefined))?.size ?? 0) >= 40 * MiB, {
        intervalMs: 10,
        what: 'a partial temporary file of 40 MiB',
      }).catch((error: Error) => {
        throw new Error(`${error.message}; daemon output:\n${daemon.output().slice(-3000)}`);
      });
      await daemon.stop('SIGKILL');
      const kept = (await stat(partial)).size;
      assert.ok(kept < content.length, 'killed before the upload finished');
      const sentBefore = proxy.bytesUp();
      restarted = await startDaemonProcess(raw);
      const batch = await waitForBatch({ get: (path) => request(restarted!.url, 'GET', path) }, reply.body.batch_id, 60_000);
      assert.equal(batch.state, 'done', JSON.stringify(batch));
      assert.equal(await md5OfPath(join(server.root, prefix, 'big.nar.xz')), md5);
      const sentAfter = proxy.bytesUp() - sentBefore;
      // What was left, plus SSH framing and a few round trips; a restart from 0 would send 200 MiB.
      assert.ok(sentAfter < content.length - kept + 4 * MiB, `sent ${sentAfter} bytes after restart, ${kept} were on the server`);
      await assert.rejects(stat(partial), { code: 'ENOENT' });
    } finally {
      await daemon.stop('SIGKILL').catch(() => {});
      await restarted?.stop('SIGKILL').catch(() => {});
      await proxy.close();
      await rm(src, { recursive: true, force: true });
    }
  });

  it('rides out a 20 s server outage mid-publish: nothing lost, nothing deleted early', async () => {
    const prefix = uniqueName('outage');
    const src = await tempDir();
    const tree: Record<string, Buffer> = {};
    for (let index = 0; index < 400; index += 1) tree[`nar/f${index}.nar.xz`] = randomBytes(2048 + index);
    await writeTree(src, tree);
    const daemon = await startApp(rawConfig(redis, undefined, { ...sftpConfig(), publish: { max_retry: 1, retry_backoff_seconds: 0.2 } }));
    const remote = join(server.root, prefix);
    /** Every local file deleted so far must be on the server, exact. */
    const checkDeletions = async () => {
      const left = new Set(await filesBelow(src));
      for (const key of Object.keys(tree)) {
        if (!left.has(key)) assert.ok((await readFile(join(remote, key))).equals(tree[key]!), `${key} deleted before it was stored`);
      }
    };
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: `${prefix}/`, delete_after_sync: true }]);
      assert.equal(reply.status, 200);
      await waitFor(async () => (await filesBelow(remote)).length >= 40, { intervalMs: 5, what: '40 files on the server' });
      await server.stop();
      const stoppedAt = Date.now();
      try {
        await waitFor(async () => (await daemon.get('/readyz')).status === 503, { what: '/readyz to fail' });
        await checkDeletions();
        // The outage lasts 20 s (the scenario, not a synchronisation): uploads must wait it out.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 20_000 - (Date.now() - stoppedAt))));
        await checkDeletions();
        assert.ok((await filesBelow(src)).length > 0, 'uploads were still waiting');
      } finally {
        await server.start();
      }
      const result = await waitForBatch(daemon, reply.body.batch_id, 60_000);
      assert.equal(result.state, 'done', JSON.stringify(result));
      assert.deepEqual(result.failed_files, []);
    } finally {
      await daemon.close();
    }
    for (const [key, content] of Object.entries(tree)) assert.ok((await readFile(join(remote, key))).equals(content), key);
    assert.deepEqual(await filesBelow(src), []);
  });

  it('warns at start when host keys are ignored, and refuses an unknown host otherwise', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', write: (line) => void lines.push(line) });
    const insecure = validateConfig(
      rawConfig(redis, undefined, sftpConfig({ known_hosts: join(server.root, 'none'), insecure_ignore_host_key: true })),
    );
    const app = createApp(insecure, { log, listen: { host: '127.0.0.1', port: 0 } });
    await app.start();
    try {
      assert.ok(
        lines.some((line) => /insecure_ignore_host_key/.test(line) && /level=warn/.test(line)),
        lines.join(''),
      );
      assert.equal((await request(app.url, 'GET', '/readyz')).status, 200);
    } finally {
      await app.close();
    }
    const strict = await startApp(rawConfig(redis, undefined, sftpConfig({ known_hosts: join(server.root, 'none') })));
    try {
      const ready = await strict.get('/readyz');
      assert.equal(ready.status, 503);
    } finally {
      await strict.close();
    }
  });
});
