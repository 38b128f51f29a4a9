/**
 * Hostile input, authenticated so that validation (not the 401) is what answers: every
 * request must get a 4xx JSON error, never a 5xx or a hang; the daemon stays ready and
 * nothing outside the allowed roots reaches the bucket. Some generated requests are valid
 * (folders inside the roots holding symlinks out of them), so files are queued and uploaded
 * and the bucket check has something to catch.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { startRedis, startS3, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, getObject, listKeys, rawConfig, startApp, tempDir, writeTree, type TestApp } from '../helpers/daemon.js';

const TOKEN = 'hostile-suite-token-0123456789';
const SECRET = 'content from outside the allowed roots';

interface Attempt {
  method: string;
  path: string;
  body?: string | Buffer;
  contentType?: string;
}

describe('hostile input', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let daemon: TestApp;
  let bucket: string;
  let allowed: string;
  let outside: string;
  let tried = 0;
  let accepted = 0;

  before(async () => {
    [redis, s3] = await Promise.all([startRedis(), startS3()]);
    bucket = await createBucket(s3);
    allowed = await tempDir('allowed');
    outside = await tempDir('outside');
    await writeFile(join(outside, 'secret.txt'), SECRET);
    await writeTree(allowed, { 'cache/a.narinfo': 'fine', 'cache/deep/b.narinfo': 'also fine' });
    await symlink(outside, join(allowed, 'escape'));
    await symlink(outside, join(allowed, 'cache', 'deep', 'escape'));
    await symlink(join(outside, 'secret.txt'), join(allowed, 'cache', 'leak.txt'));
    daemon = await startApp(
      rawConfig(
        redis,
        s3,
        { http: { auth_tokens: [TOKEN], body_limit_bytes: 64 * 1024 }, publish: { allowed_roots: [allowed], max_items: 50 } },
        bucket,
      ),
    );
  });
  after(async () => {
    await daemon.close();
    await Promise.all([redis.destroy(), s3.destroy()]);
    process.stdout.write(`# hostile requests tried: ${tried}\n`);
  });

  async function send(attempt: Attempt): Promise<{ status: number; body: unknown }> {
    tried += 1;
    const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
    if (attempt.contentType !== undefined) headers['content-type'] = attempt.contentType;
    const response = await fetch(daemon.url + attempt.path, {
      method: attempt.method,
      headers,
      body: attempt.body,
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body };
  }

  function assertClientError(attempt: Attempt, reply: { status: number; body: unknown }) {
    const shown = `${attempt.method} ${attempt.path} ${String(attempt.body ?? '').slice(0, 120)}`;
    assert.ok(reply.status >= 400 && reply.status < 500, `4xx for ${shown}, got ${reply.status} ${JSON.stringify(reply.body)}`);
    assert.equal(typeof (reply.body as { error?: unknown }).error, 'string', `JSON error for ${shown}`);
  }

  const hostilePath = fc.oneof(
    fc.constantFrom('/etc/shadow', '/etc/hostname', '../../etc', '', '/', '\u0000', 'relative', '/proc/self/environ'),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.constant('/tmp/../etc/passwd'),
  );
  const hostileKey = fc.oneof(
    fc.constantFrom('../', 'store/../../x', '/abs', '', 'a\u0000b', 'a\nb', 'x'.repeat(2000), '..', 'a/../b/'),
    fc.string({ unit: 'binary', maxLength: 2000 }).map((key) => `${key}/..`),
  );
  const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.object());

  // Valid: folders inside the root whose symlinks lead out of it (those files are skipped).
  const validItems = fc.array(
    fc.record({
      from: fc.constantFrom(allowedPath(''), allowedPath('cache'), allowedPath('cache/deep')),
      to: fc.stringMatching(/^[a-z0-9]{1,6}$/).map((name) => `store/${name}/`),
    }),
    { minLength: 1, maxLength: 3 },
  );
  function allowedPath(below: string): () => string {
    return () => join(allowed, below);
  }

  it('answers 4xx JSON to generated hostile publish bodies, and 200 to the valid ones among them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          validItems.map((items) => ({ valid: true as const, items })),
          hostileBody().map((body) => ({ valid: false as const, body })),
        ),
        async (drawn) => {
          if (drawn.valid) {
            const body = drawn.items.map((item) => ({ from: item.from(), to: item.to }));
            const attempt = { method: 'POST', path: '/publish', body: JSON.stringify(body), contentType: 'application/json' };
            const reply = await send(attempt);
            assert.equal(reply.status, 200, `valid ${attempt.body}: ${JSON.stringify(reply.body)}`);
            const skipped = (reply.body as { skipped_count?: number }).skipped_count ?? 0;
            // Every item reaches a symlink out of the root (the root itself holds `escape`).
            assert.ok(skipped >= body.length, `symlinks out of the root skipped for ${attempt.body}: ${JSON.stringify(reply.body)}`);
            accepted += 1;
            return;
          }
          const attempt = { method: 'POST', path: '/publish', body: JSON.stringify(drawn.body), contentType: 'application/json' };
          assertClientError(attempt, await send(attempt));
        },
      ),
      { numRuns: 250 },
    );
    assert.ok(accepted >= 40, `valid requests drawn: ${accepted}`);
  });

  // Built when the test runs: the folders exist only then.
  const hostileBody = () =>
    fc.oneof(
      // items with hostile paths and keys (and valid-looking ones pointing outside the roots)
      fc.array(fc.record({ from: hostilePath, to: hostileKey }), { minLength: 1, maxLength: 4 }),
      fc.array(
        fc.record({ from: fc.constantFrom(outside, join(allowed, 'escape'), join(outside, 'secret.txt')), to: fc.constant('store/') }),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      // wrong field types
      fc.array(fc.record({ from: wrongType, to: wrongType, delete_after_sync: fc.string(), overwrite: fc.integer() }), {
        minLength: 1,
        maxLength: 3,
      }),
      // not an array / no items / too many items
      fc.oneof(
        fc.object(),
        fc.string(),
        fc.integer(),
        fc.constant([]),
        fc.constant(Array.from({ length: 51 }, () => ({ from: allowed, to: 'x/' }))),
      ),
    );

  it('answers 4xx JSON to bad JSON, wrong content types, huge bodies and wrong methods', async () => {
    const attempts: Attempt[] = [];
    for (const body of ['{', '[{"from": ', 'null x', '\u0000\u0001', '[{"from":"/a","to":"b"}]]']) {
      attempts.push({ method: 'POST', path: '/publish', body, contentType: 'application/json' });
    }
    for (const contentType of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'image/png']) {
      attempts.push({ method: 'POST', path: '/publish', body: 'from=/etc&to=x', contentType });
    }
    attempts.push({ method: 'POST', path: '/publish', body: Buffer.alloc(200 * 1024, 0x5b), contentType: 'application/json' });
    attempts.push({
      method: 'POST',
      path: '/publish',
      body: `[${'{"from":"/x","to":"y"},'.repeat(5000)}{}]`,
      contentType: 'application/json',
    });
    attempts.push({ method: 'POST', path: '/publish' });
    for (const [method, path] of [
      ['GET', '/publish'],
      ['PUT', '/publish'],
      ['DELETE', '/publish'],
      ['PATCH', '/healthz'],
      ['POST', '/readyz'],
      ['GET', '/../../etc/passwd'],
      ['GET', `/${'a'.repeat(5000)}`],
      ['GET', '/%00'],
      ['GET', '/publish%2F..%2F'],
    ] as const) {
      attempts.push({ method, path });
    }
    for (const attempt of attempts) assertClientError(attempt, await send(attempt));
    assert.ok(attempts.length >= 20);
  });

  const badKey = fc.oneof(
    fc.constantFrom(
      '',
      '/store/a',
      'store/../etc/passwd',
      'store//a',
      'store/a\\b',
      'store/\u0000',
      'store/\n',
      'other/a',
      '..',
      'store/..',
    ),
    fc.string({ maxLength: 40 }).map((tail) => `store/${tail}/../x`),
    fc.string({ minLength: 1, maxLength: 40 }).map((tail) => `store/${'y'.repeat(1025)}${tail}`),
    fc.string({ maxLength: 40 }).map((tail) => `nope/${tail}`),
  );

  it('answers 4xx JSON to hostile keys on /check, POST /check and the cache endpoints', async () => {
    await fc.assert(
      fc.asyncProperty(badKey, fc.constantFrom('path', 'query', 'delete', 'clear'), async (key, drawn) => {
        // An empty path key means "everything" on the upstream clear route: ask for it in the query.
        const where = key === '' ? 'query' : drawn;
        const encoded = encodeURIComponent(key);
        const attempt: Attempt =
          where === 'path'
            ? { method: 'GET', path: `/check/${encoded}` }
            : where === 'query'
              ? { method: 'GET', path: `/check?key=${encoded}` }
              : where === 'delete'
                ? { method: 'DELETE', path: `/cache/${encoded}` }
                : { method: 'POST', path: `/clear-cache?key=${encoded}` };
        assertClientError(attempt, await send(attempt));
      }),
      { numRuns: 120 },
    );
    const bodies: unknown[] = [
      {},
      { keys: 'store/a' },
      { keys: [1, 2] },
      { keys: Array.from({ length: 1001 }, () => 'store/a') },
      [],
      'x',
      null,
    ];
    for (const body of bodies) {
      const attempt = { method: 'POST', path: '/check', body: JSON.stringify(body), contentType: 'application/json' };
      assertClientError(attempt, await send(attempt));
    }
    for (const [method, path] of [
      ['POST', '/hooks/runs'],
      ['DELETE', '/hooks/runs'],
      ['POST', '/metrics'],
      ['PUT', '/stats'],
      ['PUT', '/check/store/a'],
      ['PATCH', '/cache'],
    ] as const) {
      assertClientError({ method, path }, await send({ method, path }));
    }
  });

  it('stays ready, and nothing from outside the allowed roots reached the bucket', async () => {
    const ready = await send({ method: 'GET', path: '/readyz' });
    assert.equal(ready.status, 200);
    await daemon.idle();
    const keys = await listKeys(s3, bucket);
    // The valid requests were uploaded: the check below looked at real objects.
    assert.ok(keys.some((key) => key.endsWith('/a.narinfo')) && keys.some((key) => key.endsWith('/deep/b.narinfo')), keys.join(' '));
    for (const key of keys) {
      assert.notEqual((await getObject(s3, bucket, key)).body.toString(), SECRET, `${key} holds an outside file`);
      assert.doesNotMatch(key, /leak\.txt|escape\//, `${key} came through a symlink out of the root`);
    }
    assert.ok(tried >= 350, `tried ${tried} requests`);
  });
});
