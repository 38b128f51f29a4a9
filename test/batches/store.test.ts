import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createBatchStore, newBatchId, type BatchStore, type OutcomeEntry } from '../../src/batches/index.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/servers.js';
import { uniqueName } from '../helpers/daemon.js';

/** The batch store's Lua scripts against a real Redis, driven directly. */
describe('batch store', () => {
  let server: RedisServer;
  let redis: Redis;
  let store: BatchStore;
  before(async () => {
    server = await startRedis();
    redis = new Redis({ port: server.port });
    store = createBatchStore({ redis }, { prefix: uniqueName('s'), ttlSeconds: 3600 });
  });
  after(async () => {
    await redis.quit();
    await server.destroy();
  });

  const entry = (jobId: string, key: string, outcome: OutcomeEntry['outcome'], extra: Partial<OutcomeEntry> = {}): OutcomeEntry => ({
    jobId,
    itemIndex: 0,
    key,
    order: 'none',
    outcome,
    ...extra,
  });

  it('counts each job once, moving it when its final outcome changes', async () => {
    const id = newBatchId();
    await store.create(id, [
      { from: '/a', to: 'a/' },
      { from: '/b', to: 'b/' },
    ]);
    assert.equal((await store.result(id))!.state, 'queued');
    await store.record(id, entry('1', 'a/x', 'uploaded'));
    await store.record(id, entry('1', 'a/x', 'uploaded')); // a re-run after a crash
    await store.record(id, entry('2', 'b/y', 'failed', { itemIndex: 1, reason: 'Access Denied' }));
    let result = (await store.result(id))!;
    assert.equal(result.state, 'running');
    assert.deepEqual([result.uploaded_files, result.skipped_files, result.failed_files], [1, 0, ['b/y']]);
    assert.deepEqual(result.failures, [{ s3_key: 'b/y', reason: 'Access Denied' }]);

    await store.seal(id, { total: 3, after: 0, last: 0, skippedEntries: 0, items: [2, 1], present: [0, 0] });
    assert.equal((await store.result(id))!.finished_at, null, 'one job still open');
    await store.record(id, entry('3', 'a/z', 'skipped'));
    result = (await store.result(id))!;
    assert.equal(result.state, 'failed');
    assert.ok(result.finished_at !== null);

    // The failed job retried by hand and uploaded: counts move, the batch is done.
    await store.record(id, entry('2', 'b/y', 'uploaded', { itemIndex: 1 }));
    result = (await store.result(id))!;
    assert.equal(result.state, 'done');
    assert.deepEqual(result.failed_files, []);
    assert.deepEqual(
      result.items.map((item) => [item.total_files, item.uploaded_files, item.skipped_files, item.failed_files.length]),
      [
        [2, 1, 1, 0],
        [1, 1, 0, 0],
      ],
    );
    assert.deepEqual([result.total_files, result.uploaded_files, result.skipped_files], [3, 2, 1]);
  });

  it('records a job removed by hand only when it has no outcome yet', async () => {
    const id = newBatchId();
    await store.create(id, [{ from: '/a', to: 'a/' }]);
    await store.record(id, entry('1', 'a/x', 'uploaded'));
    await store.record(id, entry('1', 'a/x', 'failed', { reason: 'removed', ifUnrecorded: true }));
    await store.record(id, entry('2', 'a/y', 'failed', { reason: 'removed', ifUnrecorded: true }));
    await store.seal(id, { total: 2, after: 0, last: 0, skippedEntries: 0, items: [2], present: [0] });
    const result = (await store.result(id))!;
    assert.deepEqual([result.uploaded_files, result.failed_files], [1, ['a/y']], 'the uploaded job kept its outcome');
    assert.deepEqual(result.failures, [{ s3_key: 'a/y', reason: 'removed' }]);
  });

  it('finishes at sealing when every job already has its outcome', async () => {
    const id = newBatchId();
    await store.create(id, [{ from: '/a', to: 'a/' }]);
    await store.record(id, entry('1', 'a/x', 'uploaded'));
    assert.equal((await store.progress(id))!.finished, false, 'not sealed: more jobs may come');
    await store.seal(id, { total: 1, after: 0, last: 0, skippedEntries: 0, items: [1], present: [0] });
    assert.equal((await store.progress(id))!.finished, true);
  });

  it('counts files the bucket already held as skipped and done, once, and lets narinfos waiting on them go ahead', async () => {
    const id = newBatchId();
    await store.create(id, [
      { from: '/a', to: 'a/' },
      { from: '/b', to: 'b/' },
    ]);
    await store.recordPresent(id, ['a/nar/x.nar', 'b/y']);
    assert.equal(await store.gate(id, { jobId: '1', order: 'after', key: 'a/nar/x.nar' }), 'proceed');
    await store.record(id, entry('1', 'a/x.narinfo', 'uploaded', { order: 'after' }));
    const totals = { total: 1, after: 1, last: 0, skippedEntries: 0, items: [1, 0], present: [1, 1] };
    await store.seal(id, totals);
    await store.seal(id, totals); // a publish that retried its seal
    const result = (await store.result(id))!;
    assert.equal(result.state, 'done');
    assert.deepEqual([result.total_files, result.uploaded_files, result.skipped_files], [3, 1, 2]);
    assert.deepEqual(
      result.items.map((item) => [item.total_files, item.uploaded_files, item.skipped_files]),
      [
        [2, 1, 1],
        [1, 0, 1],
      ],
    );
    assert.equal((await store.progress(id))!.processed_files, 3);
  });

  it('gates ordered jobs: wait, then proceed, fail or missing, and wakes waiters', async () => {
    const id = newBatchId();
    await store.create(id, [{ from: '/c', to: 'c/' }]);
    const gate = (jobId: string, order: 'after' | 'last', key = '') => store.gate(id, { jobId, order, key });
    assert.equal(await gate('10', 'after', 'c/nar/a.nar'), 'wait');
    assert.equal(await gate('11', 'after', 'c/nar/b.nar'), 'wait');
    assert.equal(await gate('12', 'after', 'c/nar/gone.nar'), 'wait');
    assert.equal(await gate('13', 'last'), 'wait', 'unsealed: nothing goes last yet');
    assert.deepEqual(await store.record(id, entry('1', 'c/nar/a.nar', 'uploaded')), ['10']);
    assert.equal(await gate('10', 'after', 'c/nar/a.nar'), 'proceed');
    assert.deepEqual(await store.record(id, entry('2', 'c/nar/b.nar', 'failed', { reason: 'x' })), ['11']);
    assert.equal(await gate('11', 'after', 'c/nar/b.nar'), 'failed');
    await store.seal(id, { total: 6, after: 3, last: 1, skippedEntries: 0, items: [6], present: [0] });
    // Every unordered job is done (2 of 2) and c/nar/gone.nar never came.
    assert.equal(await gate('12', 'after', 'c/nar/gone.nar'), 'missing');
    assert.equal(await gate('13', 'last'), 'wait');
    // Once every unordered job is done, each outcome wakes every waiter to decide again
    // (12 was still registered from its first wait).
    assert.deepEqual((await store.record(id, entry('10', 'c/a.narinfo', 'uploaded', { order: 'after' }))).sort(), ['12', '13']);
    assert.equal(await gate('13', 'last'), 'wait');
    await store.record(id, entry('11', 'c/b.narinfo', 'failed', { order: 'after', reason: 'NAR failed: c/nar/b.nar' }));
    assert.equal(await gate('13', 'last'), 'wait');
    const woken = await store.record(id, entry('12', 'c/gone.narinfo', 'failed', { order: 'after', reason: 'missing' }));
    assert.deepEqual(woken, ['13'], 'the last job is woken once all others are done');
    assert.equal(await gate('13', 'last'), 'proceed');
    assert.equal(await store.gate(newBatchId(), { jobId: '1', order: 'after', key: 'k' }), 'gone');
  });

  it('ignores outcomes for unknown or expired batches and expires with its TTL', async () => {
    assert.deepEqual(await store.record(newBatchId(), entry('1', 'x', 'uploaded')), []);
    const short = createBatchStore({ redis }, { prefix: uniqueName('ttl'), ttlSeconds: 1 });
    const id = newBatchId();
    await short.create(id, [{ from: '/a', to: 'a/' }]);
    await short.record(id, entry('1', 'a/x', 'failed', { reason: 'r' }));
    assert.ok((await short.result(id)) !== undefined);
    const keys = await redis.keys(`*${id}*`);
    assert.ok(keys.length > 0);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      assert.ok(ttl > 0 && ttl <= 1000, `${key} expires within the batch TTL of 1 s (pttl ${ttl})`);
    }
    // Redis expires the keys (TTL 1 s): wait for that, then no key of the batch is left.
    await waitFor(async () => (await short.result(id)) === undefined, { timeoutMs: 5000, what: 'the batch to expire' });
    await waitFor(async () => (await redis.keys(`*${id}*`)).length === 0, { timeoutMs: 5000, what: 'no key outliving the batch' });
  });
});
