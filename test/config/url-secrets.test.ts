/** Secrets inside URLs (`redis.addr`, `s3.endpoint` user info) are redacted like the others (issue 17, finding 5). */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis } from '../helpers/servers.js';
import { projectRoot, rawConfig, startDaemonProcess, tempDir } from '../helpers/daemon.js';

const REDIS_PASSWORD = 'pw-in-url-4ff1e';
const S3_SECRET = 's3-url-secret-9c2d';

describe('secrets in URLs', () => {
  it('sync4loong config prints redis.addr and s3.endpoint without their user info', async () => {
    const dir = await tempDir('cfg');
    const file = join(dir, 'url.toml');
    await writeFile(
      file,
      `[redis]\naddr = "redis://:${REDIS_PASSWORD}@localhost:6379/0"\n[s3]\nendpoint = "http://AKID:${encodeURIComponent(S3_SECRET + '/x')}@s3.local"\nregion = "r"\nbucket = "b"\naccess_key = "a-key"\nsecret_key = "s-key-value"\n`,
    );
    const result = spawnSync(process.execPath, [join(projectRoot, 'bin', 'sync4loong'), 'config', '--config', file], { encoding: 'utf8' });
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stdout, new RegExp(`${REDIS_PASSWORD}|${S3_SECRET}|AKID`));
    assert.match(result.stdout, /addr = "redis:\/\/\*+@localhost:6379\/0"/);
    assert.match(result.stdout, /endpoint = "http:\/\/\*+@s3\.local"/);
  });

  it('the daemon never logs the password of a redis:// address', async () => {
    const redis = await startRedis({ args: ['--requirepass', REDIS_PASSWORD] });
    const bucketRoot = await tempDir('bucket');
    const raw = rawConfig({ ...redis, addr: `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}/0` }, undefined, {
      storage: { type: 'fs', root: bucketRoot },
    });
    const daemon = await startDaemonProcess(raw);
    try {
      assert.match(daemon.output(), /redis=redis:\/\/\*+@127\.0\.0\.1:\d+\/0/);
      assert.ok(!daemon.output().includes(REDIS_PASSWORD), daemon.output());
    } finally {
      await daemon.stop();
      await redis.destroy();
    }
  });
});
