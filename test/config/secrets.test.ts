/**
 * Secrets, as the README promises them, in a daemon process: read from
 * `redis.password_file`, `s3.access_key_file` and `s3.secret_key_file`; never written to
 * the daemon's output at any log level, even while S3 and Redis fail; and the post-sync
 * command's environment has the daemon's `SYNC4LOONG_*` settings removed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis, startS3, waitFor } from '../helpers/servers.js';
import { createBucket, headObject, rawConfig, request, startDaemonProcess, tempDir, writeTree } from '../helpers/daemon.js';

const REDIS_PASSWORD = 'redis-password-never-logged-7f3a9c';
const S3_SECRET = 'S3-secret-never-logged-4b8e1d';

describe('secrets', () => {
  it('reads the Redis password and the S3 keys from files; the post-sync command gets no SYNC4LOONG_* setting', async () => {
    const [redis, s3] = await Promise.all([startRedis({ args: ['--requirepass', REDIS_PASSWORD] }), startS3()]);
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const dir = await tempDir('secret-files');
    const out = join(dir, 'hook-env');
    await writeTree(src, { 'a.narinfo': 'a' });
    await writeFile(join(dir, 'redis-password'), `${REDIS_PASSWORD}\n`);
    await writeFile(join(dir, 'access-key'), 'S3RVER\n');
    await writeFile(join(dir, 'secret-key'), 'S3RVER\n');
    const raw = rawConfig(
      redis,
      s3,
      {
        // The inline keys are wrong: s3rver refuses an unknown access key (it checks no secret:
        // the secret file is proven read below, by a start that fails without it).
        s3: {
          access_key: 'WRONG',
          secret_key: 'WRONG',
          access_key_file: join(dir, 'access-key'),
          secret_key_file: join(dir, 'secret-key'),
        },
        publish: { allowed_roots: [src] },
        daemon: { enable_ssh_task: true, ssh_shell: true, ssh_command: `env > ${out}`, ssh_debounce_minutes: 0.2 / 60 },
      },
      bucket,
    );
    // The password file comes through the environment: a SYNC4LOONG_* setting the command must not see.
    const daemon = await startDaemonProcess(raw, {
      SYNC4LOONG_REDIS_PASSWORD_FILE: join(dir, 'redis-password'),
      SYNC4LOONG_DAEMON_CONCURRENCY: '3',
      NOT_A_DAEMON_SETTING: 'passed on',
    });
    try {
      assert.equal((await request(daemon.url, 'GET', '/readyz')).status, 200, 'Redis and S3 accept the secrets from files');
      const reply = await request(daemon.url, 'POST', '/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      await waitFor(() => headObject(s3, bucket, 'store/a.narinfo'), { what: 'the upload' });

      const env = await waitFor(() => readFile(out, 'utf8').catch(() => undefined), { what: 'the post-sync command to run' });
      const settings = env!
        .split('\n')
        .filter((line) => line.startsWith('SYNC4LOONG_'))
        .sort();
      assert.deepEqual(settings, ['SYNC4LOONG_KEYS_SENT=1', 'SYNC4LOONG_UPLOADED_COUNT=1'], 'only what the command is told');
      assert.ok(env!.split('\n').includes('NOT_A_DAEMON_SETTING=passed on'), 'the rest of the environment is kept');
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
    try {
      const missing = join(dir, 'no-such-secret-key');
      const broken = { ...raw, s3: { ...raw.s3, secret_key_file: missing } };
      await assert.rejects(startDaemonProcess(broken, { SYNC4LOONG_REDIS_PASSWORD_FILE: join(dir, 'redis-password') }), (error: Error) => {
        assert.ok(error.message.includes(missing), error.message);
        return true;
      });
    } finally {
      await Promise.all([redis.destroy(), s3.destroy()]);
    }
  });

  it('never writes the S3 secret or the Redis password to the output, at debug, while S3 and Redis fail', async () => {
    const [redis, s3] = await Promise.all([startRedis({ args: ['--requirepass', REDIS_PASSWORD] }), startS3()]);
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'a' });
    const raw = rawConfig(
      redis,
      s3,
      {
        redis: { password: REDIS_PASSWORD },
        s3: { secret_key: S3_SECRET },
        publish: { allowed_roots: [src], max_retry: 0 },
      },
      bucket,
    );
    const daemon = await startDaemonProcess(raw, { SYNC4LOONG_DAEMON_LOG_LEVEL: 'debug' });
    try {
      // Requests are signed with the secret, then fail: S3 is gone.
      await s3.stop();
      const reply = await request(daemon.url, 'POST', '/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      await waitFor(() => /level=(warn|error)[^\n]*(ECONNREFUSED|storage)/.test(daemon.output()), { what: 'the daemon to log S3 failing' });
      await redis.stop();
      await waitFor(() => /level=(warn|error)[^\n]*(redis|Redis|ECONNREFUSED)/.test(daemon.output()), {
        what: 'the daemon to log Redis failing',
      });
      // Both back, so the daemon finishes the upload, closes its queues and stops at once.
      await Promise.all([redis.start(), s3.start()]);
    } finally {
      await daemon.stop();
      await Promise.all([redis.destroy(), s3.destroy()]);
    }
    const output = daemon.output();
    assert.match(output, /level=debug/, 'the daemon logged at debug');
    assert.ok(!output.includes(S3_SECRET), 'the S3 secret is not in the output');
    assert.ok(!output.includes(REDIS_PASSWORD), 'the Redis password is not in the output');
  });
});
