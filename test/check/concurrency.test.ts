import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { concurrently, startCheckStack } from './fixture.js';

describe('/check under concurrency, and POST /check', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('50 concurrent checks of one uncached key make exactly one HEAD', async () => {
    const stack = await startCheckStack(redis, s3);
    try {
      await stack.put('store/hot.narinfo', 'hot');
      stack.proxy.delay = 100; // keep the HEAD in flight while the checks pile up
      const [present, absent] = await Promise.all([
        concurrently(50, () => stack.daemon.get('/check/store/hot.narinfo')),
        concurrently(50, () => stack.daemon.get('/check/store/cold.narinfo')),
      ]);
      assert.ok(present.every((reply) => reply.status === 200 && reply.body.exists === true && reply.body.size === 3));
      assert.ok(absent.every((reply) => reply.status === 200 && reply.body.exists === false));
      assert.equal(stack.heads('store/hot.narinfo'), 1, 'one HEAD at the S3 side for 50 checks');
      assert.equal(stack.heads('store/cold.narinfo'), 1, 'one HEAD for 50 checks of a missing key');
    } finally {
      await stack.close();
    }
  });

  it('keeps at most cache.max_concurrent_s3_checks HEADs in flight', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { max_concurrent_s3_checks: 2 } });
    try {
      stack.proxy.delay = 150;
      stack.proxy.reset();
      const replies = await concurrently(8, (i) => stack.daemon.get(`/check/store/k${i}`));
      assert.ok(replies.every((reply) => reply.status === 200 && reply.body.exists === false));
      assert.equal(stack.proxy.count('HEAD'), 8);
      assert.equal(stack.proxy.maxInFlight, 2, 'never more than two HEADs at once, and the limit was reached');
    } finally {
      await stack.close();
    }
  });

  it('POST /check answers in order, in one Redis read, with HEADs only for misses', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { allowed_prefixes: ['store/'] } });
    const monitor = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
    let feed: Redis | undefined;
    try {
      await stack.put('store/cached', 'c');
      await stack.put('store/fresh', 'fresh');
      await stack.daemon.get('/check/store/cached'); // now in the cache
      const commands: string[][] = [];
      feed = await monitor.monitor();
      feed.on('monitor', (_time: string, args: string[]) => {
        if (args.some((arg) => arg.startsWith(stack.entryKey('')))) commands.push(args);
      });

      const keys = ['store/fresh', 'etc/passwd', 'store/cached', 'store/../x', 'store/none', 'store/fresh'];
      const reply = await stack.daemon.post('/check', { keys });
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const results = reply.body.results;
      assert.equal(results.length, keys.length);
      assert.deepEqual(
        results.map((r: any) => [r.s3_key, r.exists, r.cached, r.size]),
        [
          ['store/fresh', true, false, 5],
          ['etc/passwd', undefined, undefined, undefined],
          ['store/cached', true, true, 1],
          ['store/../x', undefined, undefined, undefined],
          ['store/none', false, false, undefined],
          ['store/fresh', true, false, 5],
        ],
      );
      assert.equal(results[1].error, 'key not allowed: must start with allowed prefix');
      assert.deepEqual(
        results.map((r: any) => r.target_path),
        ['store/fresh', 'etc/passwd', 'store/cached', 'store/../x', 'store/none', 'store/fresh'],
        "every answer, refusals included, names its key under the Go daemon's name too",
      );
      assert.match(results[3].error, /path traversal/);
      assert.equal(stack.heads('store/fresh'), 1, 'a key asked twice is HEADed once');
      assert.equal(stack.heads('store/none'), 1);
      assert.equal(stack.heads('store/cached'), 1, 'no HEAD for the cached key (only the earlier GET)');

      const reads = commands.filter(([command]) => ['get', 'mget'].includes(command!.toLowerCase()));
      assert.deepEqual(
        reads.map(([command]) => command!.toLowerCase()),
        ['mget'],
        'one MGET for the whole batch',
      );

      const empty = await stack.daemon.post('/check', { keys: [] });
      assert.deepEqual(empty.body, { results: [] });
    } finally {
      feed?.disconnect();
      monitor.disconnect();
      await stack.close();
    }
  });

  it('POST /check refuses malformed bodies and batches over cache.max_batch_keys', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { max_batch_keys: 3 } });
    try {
      const tooMany = await stack.daemon.post('/check', { keys: ['store/a', 'store/b', 'store/c', 'store/d'] });
      assert.equal(tooMany.status, 400);
      assert.equal(tooMany.body.error, 'too many keys: at most 3 per request');
      for (const body of [['store/a'], { key: 'store/a' }, { keys: 'store/a' }, { keys: ['store/a', 7] }]) {
        const reply = await stack.daemon.post('/check', body);
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.equal(typeof reply.body.error, 'string');
      }
      const notJson = await stack.daemon.post('/check', '{"keys": [', { 'content-type': 'application/json' });
      assert.equal(notJson.status, 400);
      assert.equal(stack.proxy.count('HEAD'), 0);
    } finally {
      await stack.close();
    }
  });
});
