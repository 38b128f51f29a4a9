import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { request } from '../helpers/daemon.js';
import { startCheckStack } from './fixture.js';

describe('clearing the /check cache', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('DELETE /cache/{key} and its upstream aliases drop one entry', async () => {
    const stack = await startCheckStack(redis, s3);
    try {
      await stack.put('store/one', '1');
      const cached = async () => (await stack.daemon.get('/check/store/one')).body.cached as boolean;
      const clears: Array<[string, string]> = [
        ['DELETE', '/cache/store/one'],
        ['DELETE', '/cache?key=store/one'],
        ['DELETE', '/clear-cache/store/one'],
        ['POST', '/clear-cache/store/one'],
        ['POST', '/clear-cache?key=store/one'],
      ];
      for (const [method, path] of clears) {
        await stack.daemon.get('/check/store/one');
        assert.equal(await cached(), true);
        const reply = await request(stack.daemon.url, method, path);
        assert.equal(reply.status, 200, `${method} ${path}`);
        assert.deepEqual(reply.body, { success: true, message: 'cache cleared for key: store/one', removed: 1 });
        assert.equal(await cached(), false, `${method} ${path} cleared it: the next check asked S3`);
      }
      const again = await stack.del('/cache/store/never-cached');
      assert.deepEqual([again.status, again.body.removed], [200, 0]);
    } finally {
      await stack.close();
    }
  });

  it('refuses bad keys, with the seed error shape under upstream names', async () => {
    const stack = await startCheckStack(redis, s3);
    try {
      const ours = await stack.del('/cache/store/../x');
      assert.equal(ours.status, 400);
      const outside = await stack.del('/cache?key=etc/passwd');
      assert.deepEqual(outside.body, { error: 'key not allowed: must start with allowed prefix', allowed_prefixes: ['store/'] });
      const upstream = await stack.del('/clear-cache?key=etc/passwd');
      assert.equal(upstream.status, 400);
      assert.deepEqual(upstream.body, {
        success: false,
        error: 'key not allowed: must start with allowed prefix',
        allowed_prefixes: ['store/'],
      });
      const emptyKey = await stack.del('/cache/');
      assert.deepEqual([emptyKey.status, emptyKey.body.error], [400, 's3 key is required'], 'an empty key never clears everything');
      const wrongMethod = await request(stack.daemon.url, 'POST', '/cache/store/x');
      assert.equal(wrongMethod.status, 404);
    } finally {
      await stack.close();
    }
  });

  it('DELETE /cache clears every entry of this bucket with SCAN, and nothing else', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { negative_ttl_seconds: 3600 } });
    const monitor = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    let feed: Redis | undefined;
    try {
      await stack.put('store/real', 'r');
      await stack.daemon.get('/check/store/real'); // a positive entry
      await stack.daemon.get('/check/store/absent'); // a negative entry
      const bulk = stack.redis.pipeline();
      for (let i = 0; i < 2500; i++)
        bulk.set(stack.entryKey(`store/bulk/${i}`), '{"exists":true,"size":1,"timestamp":"2024-01-01T00:00:00Z"}');
      const prefix = stack.daemon.config.redis.key_prefix;
      const others = [`${prefix}:exists:other-bucket:store/x`, `${prefix}:uploads:meta`, `other:exists:${stack.bucket}:store/x`];
      for (const key of others) bulk.set(key, 'keep');
      await bulk.exec();

      const commands: string[] = [];
      feed = await monitor.monitor();
      feed.on('monitor', (_time: string, args: string[]) => commands.push(args[0]!.toLowerCase()));
      const reply = await stack.del('/cache');
      const during = [...commands];
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.body, { success: true, message: 'all cache cleared successfully', removed: 2502 });
      assert.deepEqual(await stack.redis.keys(`${stack.entryKey('')}*`), []);
      for (const key of others) assert.equal(await stack.redis.get(key), 'keep', `${key} untouched`);
      assert.ok(during.filter((c) => c === 'scan').length >= 3, 'paged with SCAN');
      assert.ok(!during.includes('keys'), 'never KEYS');

      for (const [method, path] of [
        ['POST', '/clear-cache'],
        ['DELETE', '/clear-cache'],
      ] as const) {
        await stack.daemon.get('/check/store/real');
        const alias = await request(stack.daemon.url, method, path);
        assert.deepEqual(alias.body, { success: true, message: 'all cache cleared successfully', removed: 1 }, `${method} ${path}`);
      }
    } finally {
      feed?.disconnect();
      monitor.disconnect();
      await stack.close();
    }
  });
});
