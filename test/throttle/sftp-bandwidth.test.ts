/** The bandwidth cap over SFTP (a real OpenSSH server): the bytes written are paced like any backend's. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { RedisServer } from '../helpers/servers.js';
import type { SshServer } from '../helpers/sshd.js';
import { waitForBatch } from '../helpers/batches.js';
import { rawConfig, startApp, tempDir, uniqueName, writeTree } from '../helpers/daemon.js';
import { filesBelow, sftpConfig, useRedisAndSshd } from '../storage/sftp-setup.js';

const MiB = 1024 * 1024;
let redis: RedisServer;
let server: SshServer;

useRedisAndSshd((servers) => ({ redis, server } = servers));

async function publishTimed(capBytesPerSecond: number, src: string): Promise<{ seconds: number; root: string }> {
  const root = uniqueName('cap');
  const daemon = await startApp(
    rawConfig(redis, undefined, { ...sftpConfig(server, { root }), daemon: { max_upload_bytes_per_second: capBytesPerSecond } }),
  );
  try {
    const started = performance.now();
    const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const result = await waitForBatch(daemon, reply.body.batch_id, 30_000);
    assert.equal(result.state, 'done', JSON.stringify(result));
    return { seconds: (performance.now() - started) / 1000, root };
  } finally {
    await daemon.close();
  }
}

describe('bandwidth cap over SFTP', () => {
  it('8.5 MiB (one streamed file, one buffered) at 4 MiB/s takes 1.6 s or more; uncapped far less', async (t) => {
    const src = await tempDir();
    await writeTree(src, { 'big.nar': randomBytes(8 * MiB), 'small.nar': randomBytes(512 * 1024) });
    const capped = await publishTimed(4 * MiB, src);
    const free = await publishTimed(0, src);
    t.diagnostic(`capped ${capped.seconds.toFixed(2)} s, uncapped ${free.seconds.toFixed(2)} s`);
    // 8.5 MiB less the 2 MiB burst, at 4 MiB/s: 1.625 s.
    assert.ok(capped.seconds >= 1.6 && capped.seconds < 6, `capped: ${capped.seconds.toFixed(2)} s`);
    assert.ok(free.seconds < capped.seconds / 1.5, `uncapped: ${free.seconds.toFixed(2)} s`);
    assert.deepEqual((await filesBelow(`${server.root}/${capped.root}`)).sort(), ['store/big.nar', 'store/small.nar']);
  });
});
