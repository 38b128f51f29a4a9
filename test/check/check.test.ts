import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { tempDir, writeTree } from '../helpers/daemon.js';
import { RFC3339, startCheckStack } from './fixture.js';

describe('GET /check', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it("answers the seed's fields from S3 once, then from the cache", async () => {
    const stack = await startCheckStack(redis, s3);
    try {
      await stack.put('store/abc.narinfo', 'StorePath: /nix/store/abc\n');
      const first = await stack.daemon.get('/check/store/abc.narinfo');
      assert.equal(first.status, 200);
      assert.deepEqual(Object.keys(first.body), ['exists', 'cached', 'timestamp', 'size', 's3_key', 'target_path']);
      assert.equal(first.body.exists, true);
      assert.equal(first.body.cached, false);
      assert.equal(first.body.size, 26);
      assert.equal(first.body.s3_key, 'store/abc.narinfo');
      assert.equal(first.body.target_path, 'store/abc.narinfo', "the Go daemon's name for the key");
      assert.match(first.body.timestamp, RFC3339);
      assert.ok(Math.abs(Date.parse(first.body.timestamp) - Date.now()) < 60_000);

      const second = await stack.daemon.get('/check?key=store/abc.narinfo');
      assert.deepEqual(second.body, { ...first.body, cached: true }, 'same answer, from the cache');
      assert.equal(stack.heads('store/abc.narinfo'), 1, 'one HEAD for both checks');

      const missing = await stack.daemon.get('/check/store/missing.narinfo');
      assert.equal(missing.status, 200, 'a missing key is still 200');
      assert.deepEqual(Object.keys(missing.body), ['exists', 'cached', 'timestamp', 's3_key', 'target_path'], 'no size when missing');
      assert.equal(missing.body.exists, false);
      const again = await stack.daemon.get('/check/store/missing.narinfo');
      assert.deepEqual(again.body, { ...missing.body, cached: true });
      assert.equal(stack.heads('store/missing.narinfo'), 1);
    } finally {
      await stack.close();
    }
  });

  it('decodes percent-encoded path keys', async () => {
    const stack = await startCheckStack(redis, s3);
    try {
      await stack.put('store/a b+c.txt', 'x');
      const reply = await stack.daemon.get('/check/store/a%20b+c.txt');
      assert.equal(reply.status, 200);
      assert.equal(reply.body.s3_key, 'store/a b+c.txt');
      assert.equal(reply.body.exists, true);
      const query = await stack.daemon.get(`/check?key=${encodeURIComponent('store/a b+c.txt')}`);
      assert.equal(query.body.exists, true);
      assert.equal(query.body.cached, true);
    } finally {
      await stack.close();
    }
  });

  it('refuses bad keys with 400 before touching Redis or S3', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { allowed_prefixes: ['store/', 'nix/'] } });
    try {
      const cases: Array<[string, RegExp]> = [
        ['/check', /s3 key is required/],
        ['/check?key=', /s3 key is required/],
        ['/check?key=store/a&key=store/b', /given once/],
        [`/check/store/${'x'.repeat(1030)}`, /longer than 1024 bytes/],
        ['/check?key=/store/x', /must not start with '\/'/],
        ['/check/store/a%5Cb', /backslashes/],
        ['/check/store/a%00b', /control characters/],
        ['/check/store/a%0Ab', /control characters/],
        ['/check?key=store/../etc/passwd', /path traversal/],
        ['/check?key=store%2F..', /path traversal/],
        ['/check?key=store//x', /empty or '\.' segments/],
      ];
      for (const [path, reason] of cases) {
        const reply = await stack.daemon.get(path);
        assert.equal(reply.status, 400, `${path}: ${JSON.stringify(reply.body)}`);
        assert.match(reply.body.error, reason, path);
      }
      const outside = await stack.daemon.get('/check/etc/passwd');
      assert.equal(outside.status, 400);
      assert.deepEqual(outside.body, { error: 'key not allowed: must start with allowed prefix', allowed_prefixes: ['store/', 'nix/'] });
      assert.equal(stack.proxy.count('HEAD'), 0, 'no HEAD for a refused key');
      assert.deepEqual(await stack.redis.keys(`${stack.entryKey('')}*`), [], 'nothing cached');
    } finally {
      await stack.close();
    }
  });

  it('lets a negative entry expire after cache.negative_ttl_seconds', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { negative_ttl_seconds: 1 } });
    try {
      const first = await stack.daemon.get('/check/store/late.narinfo');
      assert.deepEqual([first.body.exists, first.body.cached], [false, false]);
      const ttl = await stack.redis.ttl(stack.entryKey('store/late.narinfo'));
      assert.ok(ttl > 0 && ttl <= 1, `negative entry has a TTL (${ttl})`);
      assert.equal((await stack.daemon.get('/check/store/late.narinfo')).body.cached, true);

      await stack.put('store/late.narinfo', 'arrived'); // uploaded by something else
      const later = await waitFor(
        async () => {
          const reply = await stack.daemon.get('/check/store/late.narinfo');
          return reply.body.exists === true ? reply.body : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 200, what: 'the negative entry to expire' },
      );
      assert.equal(later.cached, false);
      assert.equal(later.size, 7);
      assert.equal(stack.heads('store/late.narinfo'), 2, 'asked S3 again only after expiry');
      assert.equal(await stack.redis.ttl(stack.entryKey('store/late.narinfo')), -1, 'positive entries persist');
    } finally {
      await stack.close();
    }
  });

  it('never caches a negative answer when negative_ttl_seconds = 0', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { negative_ttl_seconds: 0 } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await stack.daemon.get('/check/store/nothing')).body.cached, false);
      assert.equal(stack.heads('store/nothing'), 3);
      assert.equal(await stack.redis.exists(stack.entryKey('store/nothing')), 0);
    } finally {
      await stack.close();
    }
  });

  it('answers a key published through /publish from the cache, without any HEAD', async () => {
    const stack = await startCheckStack(redis, s3);
    try {
      const src = await tempDir();
      await writeTree(src, { 'abc.narinfo': 'narinfo', 'nar/abc.nar.xz': Buffer.alloc(1234, 1) });
      const published = await stack.daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(published.status, 200);
      await stack.daemon.idle();
      const headsBefore = stack.proxy.count('HEAD');

      const narinfo = await stack.daemon.get('/check/store/abc.narinfo');
      const nar = await stack.daemon.get('/check/store/nar/abc.nar.xz');
      assert.deepEqual([narinfo.body.exists, narinfo.body.cached, narinfo.body.size], [true, true, 7]);
      assert.deepEqual([nar.body.exists, nar.body.cached, nar.body.size], [true, true, 1234]);
      assert.equal(stack.proxy.count('HEAD'), headsBefore, 'the checks made no HEAD');
    } finally {
      await stack.close();
    }
  });

  it('overrides a cached "missing" when the worker uploads the key', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { negative_ttl_seconds: 3600 } });
    try {
      assert.equal((await stack.daemon.get('/check/store/soon.narinfo')).body.exists, false);
      const src = await tempDir();
      await writeTree(src, { 'soon.narinfo': 'here now' });
      await stack.daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await stack.daemon.idle();
      const reply = await stack.daemon.get('/check/store/soon.narinfo');
      assert.deepEqual([reply.body.exists, reply.body.cached, reply.body.size], [true, true, 8]);
    } finally {
      await stack.close();
    }
  });

  it('lets the worker record entries with cache.positive_ttl_seconds', async () => {
    const stack = await startCheckStack(redis, s3, { cache: { positive_ttl_seconds: 1 } });
    try {
      const src = await tempDir();
      await writeTree(src, { 'gc.narinfo': 'collectable' });
      await stack.daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await stack.daemon.idle();
      const ttl = await stack.redis.ttl(stack.entryKey('store/gc.narinfo'));
      assert.ok(ttl > 0 && ttl <= 1, `recorded with a TTL (${ttl})`);
      await waitFor(async () => (await stack.redis.exists(stack.entryKey('store/gc.narinfo'))) === 0, { what: 'entry to expire' });
      const reply = await stack.daemon.get('/check/store/gc.narinfo');
      assert.deepEqual([reply.body.exists, reply.body.cached], [true, false]);
    } finally {
      await stack.close();
    }
  });

  it('counts hits, misses and HEADs by outcome in the metrics', async () => {
    const stack = await startCheckStack(redis, s3);
    try {
      await stack.put('store/m1', 'x');
      await stack.daemon.get('/check/store/m1'); // miss, HEAD found
      await stack.daemon.get('/check/store/m1'); // hit
      await stack.daemon.get('/check/store/m2'); // miss, HEAD missing
      await stack.daemon.get('/check/store/m2'); // hit
      await stack.daemon.get('/check/store/m1'); // hit
      const registry = stack.daemon.app.metrics.registry;
      const value = async (name: string, outcome?: string) => {
        const metric = await registry.getSingleMetric(name)!.get();
        return metric.values.find((v) => outcome === undefined || v.labels.outcome === outcome)?.value ?? 0;
      };
      assert.equal(await value('sync4loong_check_cache_hits_total'), 3);
      assert.equal(await value('sync4loong_check_cache_misses_total'), 2);
      assert.equal(await value('sync4loong_check_s3_heads_total', 'found'), 1);
      assert.equal(await value('sync4loong_check_s3_heads_total', 'missing'), 1);
      assert.equal(await value('sync4loong_check_s3_heads_total', 'error'), 0);
    } finally {
      await stack.close();
    }
  });
});
