/**
 * Scrub against a real bucket (s3rver) holding a cache made by the real Nix client, damaged
 * in each way scrub knows; then repaired, and substituted from by the real Nix client.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { useServers, waitFor, type Servers } from '../helpers/servers.js';
import { createBucket, getObject, headObject, listKeys, rawConfig, startApp, tempDir, type TestApp, runCli } from '../helpers/daemon.js';
import { hasNix, makeNixCache, substitute, type CachedPath } from './nix-cache.js';

const nix = await hasNix();
const skip = nix ? false : 'nix is not installed (Debian nix-bin): the scrub tests need the real Nix client';
const DAY_MS = 86_400_000;

const cli = (args: string[]) => runCli(args);

/** Starts a scrub over HTTP and waits for its end; the final status. */
async function scrub(app: TestApp, body: Record<string, unknown>): Promise<any> {
  const started = await app.post('/scrub', body);
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const id = started.body.scrub_id as string;
  return waitFor(
    async () => {
      const reply = await app.get(`/scrubs/${id}`);
      return reply.body.state === 'running' ? undefined : reply.body;
    },
    { timeoutMs: 45_000, what: 'scrub to end' },
  );
}

/** The path of an object's bytes inside s3rver's folder (to set its modification time). */
function s3rverFile(servers: Servers, bucket: string, key: string): string {
  const parts = key.split('/');
  const name = parts.pop()!;
  return join(servers.s3.dir, bucket, ...parts, `${name}._S3rver_object`);
}

async function publishCache(app: TestApp, cache: string): Promise<void> {
  const reply = await app.post('/publish', [{ from: cache, to: 'cache/' }]);
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  await app.idle();
}

describe('scrub of a damaged Nix cache', { skip }, () => {
  let app: TestApp;
  // Registered before the servers' own: the daemon closes while Redis still runs.
  after(async () => {
    await app?.close();
  });
  let servers: Servers;
  useServers((started) => (servers = started));
  let work: string;
  let bucket: string;
  let paths: CachedPath[];
  const key = (relative: string) => `cache/${relative}`;
  const orphanOld = 'cache/nar/0000000000000000000000000000000000000000000000000000.nar.xz';
  const orphanYoung = 'cache/nar/1111111111111111111111111111111111111111111111111111.nar.xz';
  const fakeHash = 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz';

  before(async () => {
    work = await tempDir('scrub');
    paths = await makeNixCache(work, 9);
    bucket = await createBucket(servers.s3);
    app = await startApp(
      rawConfig(servers.redis, servers.s3, { publish: { allowed_roots: [work] }, scrub: { hash_concurrency: 2 } }, bucket),
    );
    await publishCache(app, join(work, 'cache'));
    const [p0, p1, p2, p3, p4] = paths as [CachedPath, CachedPath, CachedPath, CachedPath, CachedPath];
    const put = (Key: string, Body: Buffer | string) => servers.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body }));
    const remove = (Key: string) => servers.s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key }));
    // p0: its NAR is gone.
    await remove(key(p0.nar));
    // p1: its NAR is cut short.
    const nar1 = (await getObject(servers.s3, bucket, key(p1.nar))).body;
    await put(key(p1.nar), nar1.subarray(0, nar1.length - 10));
    // p2: its NAR keeps its size, not its bytes (only --hashes sees it).
    const nar2 = Buffer.from((await getObject(servers.s3, bucket, key(p2.nar))).body);
    nar2[nar2.length - 20] = nar2[nar2.length - 20]! ^ 0xff;
    await put(key(p2.nar), nar2);
    // p3: its narinfo is garbage.
    await put(key(p3.narinfo), 'this is not a narinfo\n');
    // p4: its narinfo moved to another hash's key.
    const narinfo4 = (await getObject(servers.s3, bucket, key(p4.narinfo))).body;
    await put(key(`${fakeHash}.narinfo`), narinfo4);
    await remove(key(p4.narinfo));
    // Two NARs no narinfo names: one two days old, one just written.
    await put(orphanOld, Buffer.alloc(1000, 1));
    await put(orphanYoung, Buffer.alloc(500, 2));
    const twoDaysAgo = new Date(Date.now() - 2 * DAY_MS);
    await utimes(s3rverFile(servers, bucket, orphanOld), twoDaysAgo, twoDaysAgo);
    // And the cache's description is gone.
    await remove('cache/nix-cache-info');
  });

  it('finds every problem, and nothing else, in one size-only pass', async () => {
    const status = await scrub(app, { prefix: 'cache/' });
    assert.equal(status.state, 'done', status.error);
    const result = status.result;
    assert.equal(result.kind, 'nix');
    assert.deepEqual(result.problems_by_kind, {
      missing_nar: 1,
      nar_size_mismatch: 1,
      unparsable_narinfo: 1,
      store_path_mismatch: 1,
      orphan_nar: 1,
      nix_cache_info_missing: 1,
    });
    const found = Object.fromEntries(result.problems.map((problem: any) => [problem.kind, problem.key]));
    assert.deepEqual(found, {
      missing_nar: key(paths[0]!.narinfo),
      nar_size_mismatch: key(paths[1]!.narinfo),
      unparsable_narinfo: key(paths[3]!.narinfo),
      store_path_mismatch: key(`${fakeHash}.narinfo`),
      orphan_nar: orphanOld,
      nix_cache_info_missing: 'cache/nix-cache-info',
    });
    assert.equal(result.orphan_bytes, 1000);
    // The young orphan, and p3's NAR (its garbled narinfo names nothing): recent, so not flagged.
    assert.equal(result.recent_orphans, 2);
    assert.equal(result.recent_orphan_bytes, 500 + paths[3]!.fileSize);
    // 9 narinfos (one of them moved), 8 NARs of nix plus 2 orphans, nix-cache-info gone.
    assert.equal(result.narinfos, 9);
    assert.equal(result.nars, 10);
    assert.equal(result.objects, 19);
    assert.equal(result.unrepaired_count, 6);
    assert.deepEqual(result.actions, []);
  });

  it('with --hashes also finds the NAR whose bytes changed, through the CLI (exit 1, --json)', async () => {
    const run = await cli(['scrub', '--prefix', 'cache/', '--hashes', '--json', '--url', app.url]);
    assert.equal(run.code, 1, run.stderr);
    const result = JSON.parse(run.stdout);
    assert.equal(result.problems_by_kind.nar_hash_mismatch, 1);
    assert.equal(result.problems.find((problem: any) => problem.kind === 'nar_hash_mismatch').key, key(paths[2]!.narinfo));
    assert.equal(result.problem_count, 7);
    assert.equal(result.unchecked_hashes, 0);
  });

  it('--repair quarantines then removes every bad narinfo, --delete-orphans only the old orphan; Nix substitutes the rest', async () => {
    await servers.s3.client.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'cache/nix-cache-info', Body: await readFile(join(work, 'cache', 'nix-cache-info')) }),
    );
    const before = {
      p3: (await getObject(servers.s3, bucket, key(paths[3]!.narinfo))).body.toString(),
      fake: (await getObject(servers.s3, bucket, key(`${fakeHash}.narinfo`))).body.toString(),
    };
    const run = await cli(['scrub', '--prefix', 'cache/', '--hashes', '--repair', '--delete-orphans', '--url', app.url]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /6 problems .* 6 repaired, 0 left/);

    const date = new Date().toISOString().slice(0, 10);
    const keys = await listKeys(servers.s3, bucket);
    const quarantined = keys.filter((entry) => entry.startsWith('_quarantine/')).sort();
    const bad = [0, 1, 2, 3].map((index) => key(paths[index]!.narinfo)).concat(key(`${fakeHash}.narinfo`));
    assert.deepEqual(quarantined, bad.map((entry) => `_quarantine/${date}/${entry}`).sort());
    for (const entry of bad) assert.equal(keys.includes(entry), false, `${entry} still in the bucket`);
    assert.equal((await getObject(servers.s3, bucket, `_quarantine/${date}/${key(paths[3]!.narinfo)}`)).body.toString(), before.p3);
    assert.equal((await getObject(servers.s3, bucket, `_quarantine/${date}/${key(`${fakeHash}.narinfo`)}`)).body.toString(), before.fake);
    assert.equal(await headObject(servers.s3, bucket, orphanOld), null);
    assert.notEqual(await headObject(servers.s3, bucket, orphanYoung), null);

    const cacheUrl = `${servers.s3.endpoint}/${bucket}/cache`;
    for (const path of paths.slice(5)) {
      const got = await substitute(cacheUrl, join(work, `client-${path.hash}`), path.storePath);
      assert.equal(got.ok, true, `${path.storePath}: ${got.stderr}`);
    }
    for (const path of paths.slice(0, 5)) {
      const got = await substitute(cacheUrl, join(work, `client-${path.hash}`), path.storePath);
      assert.equal(got.ok, false, `${path.storePath} substituted`);
      // Nix falls back (nothing to substitute) instead of failing on a NAR.
      assert.match(got.stderr, /no substituter that can build it/);
      assert.doesNotMatch(got.stderr, /\.nar/);
    }

    // The cache is healthy now; the NARs of removed narinfos are young orphans, not problems.
    const again = await scrub(app, { prefix: 'cache/', hashes: true });
    assert.equal(again.result.problem_count, 0, JSON.stringify(again.result.problems));
    assert.equal(again.result.recent_orphans, 4 + 1);
  });
});

describe('scrub --repair --from republishes from the folder', { skip }, () => {
  let app: TestApp;
  after(async () => {
    await app?.close();
  });
  let servers: Servers;
  useServers((started) => (servers = started));

  it('publishes the narinfo and its NAR again instead of removing them; nothing goes to quarantine', async () => {
    const work = await tempDir('scrub-from');
    const paths = await makeNixCache(work, 3);
    const bucket = await createBucket(servers.s3);
    app = await startApp(rawConfig(servers.redis, servers.s3, { publish: { allowed_roots: [work] } }, bucket));
    await publishCache(app, join(work, 'cache'));
    const [p0, p1] = paths as [CachedPath, CachedPath];
    await servers.s3.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: `cache/${p0.nar}` }));
    await servers.s3.client.send(new PutObjectCommand({ Bucket: bucket, Key: `cache/${p1.nar}`, Body: 'short' }));

    // A folder outside publish.allowed_roots is refused before anything starts.
    const refused = await app.post('/scrub', { prefix: 'cache/', repair: true, from: '/tmp' });
    assert.equal(refused.status, 403);

    const status = await scrub(app, { prefix: 'cache/', repair: true, from: join(work, 'cache') });
    assert.equal(status.state, 'done', status.error);
    const actions = status.result.actions.map((action: any) => `${action.action} ${action.key}`).sort();
    assert.deepEqual(actions, [`republished cache/${p0.narinfo}`, `republished cache/${p1.narinfo}`].sort());
    assert.equal(status.result.unrepaired_count, 0);
    assert.equal((await headObject(servers.s3, bucket, `cache/${p0.nar}`))?.size, p0.fileSize);
    assert.equal((await headObject(servers.s3, bucket, `cache/${p1.nar}`))?.size, p1.fileSize);
    assert.deepEqual(
      (await listKeys(servers.s3, bucket)).filter((entry) => entry.startsWith('_quarantine/')),
      [],
    );

    const again = await scrub(app, { prefix: 'cache/', hashes: true });
    assert.equal(again.result.problem_count, 0, JSON.stringify(again.result.problems));
    const got = await substitute(`${servers.s3.endpoint}/${bucket}/cache`, join(work, 'client'), p1.storePath);
    assert.equal(got.ok, true, got.stderr);
  });
});
