/**
 * Promises of the README with no other test: the 413 and "too many items" answers of
 * `/publish`, and the start-up warnings about Redis eviction and an empty
 * `publish.allowed_roots` (and their absence when the set-up is right).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createApp } from '../../src/app.js';
import { validateConfig } from '../../src/config/index.js';
import { startRedis, useServers, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';
import { capturingLogger } from '../config/live-app.js';

const EVICTION_WARNING = 'msg="redis maxmemory-policy can evict queue data: set it to noeviction" policy=allkeys-lru';
const ROOTS_WARNING = 'msg="publish.allowed_roots is empty: /publish can upload any file the daemon can read"';

describe('publish limits and start-up warnings', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('answers 413 past http.body_limit_bytes and 400 past publish.max_items, with their messages', async () => {
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'a' });
    const daemon = await startApp(
      rawConfig(redis, s3, { http: { body_limit_bytes: 2048 }, publish: { allowed_roots: [src], max_items: 3 } }, await createBucket(s3)),
    );
    try {
      const item = { from: src, to: 'store/' };
      const large = await daemon.post('/publish', [{ ...item, padding: 'x'.repeat(4096) }]);
      assert.equal(large.status, 413);
      assert.deepEqual(large.body, { success: false, error: 'request body too large' });

      const many = await daemon.post('/publish', [item, item, item, item]);
      assert.equal(many.status, 400);
      assert.deepEqual(many.body, { success: false, error: 'too many items: at most 3 per request' });

      const three = await daemon.post('/publish', [item, item, item]);
      assert.equal(three.status, 200, 'at the limit: accepted');
      await daemon.idle();
    } finally {
      await daemon.close();
    }
  });

  it('warns at start about an evicting Redis and an empty allowed_roots, and not when both are set up', async () => {
    const evicting = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    try {
      const warned = capturingLogger('info');
      const risky = createApp(validateConfig(rawConfig(evicting, s3, {}, await createBucket(s3))), {
        log: warned.log,
        listen: { host: '127.0.0.1', port: 0 },
      });
      await risky.start();
      await risky.close();
      const risk = warned.lines.join('');
      assert.ok(risk.includes(EVICTION_WARNING), risk);
      assert.ok(risk.includes(ROOTS_WARNING), risk);

      // The shared server runs with the default policy, noeviction; the roots are set.
      const quiet = capturingLogger('info');
      const safe = createApp(
        validateConfig(rawConfig(redis, s3, { publish: { allowed_roots: [await tempDir()] } }, await createBucket(s3))),
        {
          log: quiet.log,
          listen: { host: '127.0.0.1', port: 0 },
        },
      );
      await safe.start();
      await safe.close();
      const calm = quiet.lines.join('');
      // "daemon started" is logged after the checks: they had their say by then.
      assert.match(calm, /msg="daemon started"/);
      assert.ok(!calm.includes('maxmemory-policy'), calm);
      assert.ok(!calm.includes('allowed_roots is empty'), calm);
    } finally {
      await evicting.destroy();
    }
  });
});
