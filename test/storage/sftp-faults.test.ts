/**
 * The daemon with SFTP storage when things go wrong: killed with -9 during a 200 MiB upload
 * (the restarted daemon resumes from the partial temporary file: bytes counted at a proxy in
 * front of sshd), and sshd stopped for 20 s mid-publish (nothing lost, nothing deleted early,
 * no attempt spent).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor, type RedisServer } from '../helpers/servers.js';
import { rawConfig, startApp, startDaemonProcess, tempDir, uniqueName, writeTree, request } from '../helpers/daemon.js';
import { waitForBatch } from '../helpers/batches.js';
import { startByteCountingProxy, type SshServer } from '../helpers/sshd.js';
import { filesBelow, md5OfPath, sftpConfig, useRedisAndSshd } from './sftp-setup.js';

const MiB = 1024 * 1024;
let redis: RedisServer;
let server: SshServer;

useRedisAndSshd((servers) => ({ redis, server } = servers));

describe('daemon with SFTP storage, faults', () => {
  it('resumes a 200 MiB upload from its temporary file after kill -9', async (t) => {
    const proxy = await startByteCountingProxy(server.port);
    const prefix = uniqueName('resume');
    const src = await tempDir();
    const content = randomBytes(200 * MiB);
    await writeFile(join(src, 'big.nar.xz'), content);
    const md5 = createHash('md5').update(content).digest('hex');
    const partial = join(server.root, prefix, `.big.nar.xz.${md5}.partial`);
    const raw = rawConfig(redis, undefined, {
      ...sftpConfig(server, { host_key_fingerprint: server.fingerprint }, proxy.port),
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
      t.diagnostic(`on the server at the kill: ${kept} bytes; sent after the restart: ${sentAfter} bytes`);
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
    const daemon = await startApp(
      rawConfig(redis, undefined, { ...sftpConfig(server), publish: { max_retry: 1, retry_backoff_seconds: 0.2 } }),
    );
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
});
