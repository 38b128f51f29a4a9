/** `POST /scrub`, `GET /scrubs/{id}`, the lock, plain folders, the periodic scrub in `/stats` and `/metrics`. */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { useServers, waitFor, type Servers } from '../helpers/servers.js';
import { createBucket, rawConfig, request, startApp, type TestApp, runCli } from '../helpers/daemon.js';

const TOKEN = 'scrub-test-token-0123456789';

const cli = (args: string[]) => runCli(args);

describe('scrub over HTTP', () => {
  const apps: TestApp[] = [];
  let redis: Redis | undefined;
  after(async () => {
    for (const app of apps) await app.close();
    redis?.disconnect();
  });
  let servers: Servers;
  useServers((started) => (servers = started));

  async function bucketWith(objects: Record<string, string>): Promise<string> {
    const bucket = await createBucket(servers.s3);
    for (const [Key, Body] of Object.entries(objects))
      await servers.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Buffer.from(Body) }));
    return bucket;
  }

  it('needs a token even with public_check, answers 400 and 404 for bad and unknown ids, 409 while the lock is held', async () => {
    const bucket = await bucketWith({ 'files/a.txt': 'a' });
    const app = await startApp(rawConfig(servers.redis, servers.s3, { http: { auth_tokens: [TOKEN], public_check: true } }, bucket));
    apps.push(app);
    const auth = { authorization: `Bearer ${TOKEN}` };
    assert.equal((await app.post('/scrub', {})).status, 401);
    assert.equal((await request(app.url, 'GET', `/scrubs/${randomUUID()}`)).status, 401);
    assert.equal((await request(app.url, 'GET', `/scrubs/${randomUUID()}`, undefined, auth)).status, 404);
    assert.equal((await request(app.url, 'GET', '/scrubs/not-an-id', undefined, auth)).status, 400);
    assert.equal((await app.post('/scrub', { hashes: 'yes' }, auth)).status, 400);

    // Another daemon's scrub holds the lock of this Redis prefix.
    redis = new Redis({ host: '127.0.0.1', port: servers.redis.port });
    const other = randomUUID();
    const lock = `${app.config.redis.key_prefix}:scrub:lock`;
    await redis.set(lock, other, 'PX', 60_000);
    const refused = await app.post('/scrub', { prefix: 'files/' }, auth);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.scrub_id, other);
    await redis.del(lock);

    const started = await app.post('/scrub', { prefix: 'files/' }, auth);
    assert.equal(started.status, 202);
    const status = await waitFor(
      async () => {
        const reply = await request(app.url, 'GET', `/scrubs/${started.body.scrub_id}`, undefined, auth);
        return reply.body.state === 'done' ? reply.body : undefined;
      },
      { what: 'scrub to finish' },
    );
    assert.equal(status.result.objects, 1);
    // The lock was released at the end.
    assert.equal(await redis.get(lock), null);
  });

  it('a scrub whose daemon died (running, lock gone) reads as abandoned', async () => {
    const app = apps[0]!;
    const id = randomUUID();
    const record = { id, state: 'running', request: { prefix: '' }, started_at: new Date().toISOString(), progress: {} };
    await redis!.set(`${app.config.redis.key_prefix}:scrub:job:${id}`, JSON.stringify(record), 'EX', 60);
    const reply = await request(app.url, 'GET', `/scrubs/${id}`, undefined, { authorization: `Bearer ${TOKEN}` });
    assert.equal(reply.body.state, 'abandoned');
  });

  it('a plain folder gets counts and empty objects only; the CLI exits 1 then, 0 on a healthy one', async () => {
    const bucket = await bucketWith({ 'plain/a.txt': 'hello', 'plain/sub/empty.txt': '', 'clean/b.txt': 'bb', 'clean/c.txt': 'ccc' });
    const app = await startApp(rawConfig(servers.redis, servers.s3, {}, bucket));
    apps.push(app);
    const plain = await cli(['scrub', '--prefix', 'plain/', '--json', '--url', app.url]);
    assert.equal(plain.code, 1, plain.stderr);
    const result = JSON.parse(plain.stdout);
    assert.equal(result.kind, 'plain');
    assert.equal(result.objects, 2);
    assert.equal(result.bytes, 5);
    assert.deepEqual(result.problems_by_kind, { zero_size_object: 1 });
    assert.equal(result.problems[0].key, 'plain/sub/empty.txt');
    assert.equal(result.orphans_checked, false);

    const clean = await cli(['scrub', '--prefix', 'clean/', '--url', app.url]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /plain folder/);
    assert.match(clean.stdout, /healthy: no problem found/);
  });

  it('runs periodically when scrub.interval_hours is set: the last summary in /stats, the problems in /metrics', async () => {
    const bucket = await bucketWith({
      'store/nix-cache-info': 'StoreDir: /nix/store\n',
      'store/00000000000000000000000000000000.narinfo':
        'StorePath: /nix/store/00000000000000000000000000000000-x\nURL: nar/gone.nar.xz\nNarHash: sha256:0\nNarSize: 1\n',
    });
    // 0.0005 h = 1.8 s between runs.
    const app = await startApp(rawConfig(servers.redis, servers.s3, { scrub: { interval_hours: 0.0005, prefix: 'store/' } }, bucket));
    apps.push(app);
    const stats = await waitFor(
      async () => {
        const reply = await app.get('/stats');
        return reply.body.scrub !== null && reply.body.scrub !== undefined ? reply.body : undefined;
      },
      { timeoutMs: 30_000, what: 'a periodic scrub in /stats' },
    );
    assert.equal(stats.scrub.kind, 'nix');
    assert.equal(stats.scrub.prefix, 'store/');
    assert.deepEqual(stats.scrub.problems_by_kind, { missing_nar: 1 });
    assert.equal(stats.scrub.repair, false);
    const metrics = await fetch(`${app.url}/metrics`).then((reply) => reply.text());
    assert.match(metrics, /^sync4loong_scrub_problems\{kind="missing_nar"\} 1$/m);
    assert.match(metrics, /^sync4loong_scrub_problems\{kind="orphan_nar"\} 0$/m);
    assert.match(metrics, /^sync4loong_scrub_objects_checked_total [1-9]/m);
    const lastRun = Number(/^sync4loong_scrub_last_run_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(lastRun > Date.now() / 1000 - 60, `last run ${lastRun}`);
  });
});
