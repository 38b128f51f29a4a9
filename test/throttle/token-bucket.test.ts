import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { byteBucketSettings, createTokenBucket } from '../../src/throttle/index.js';
import { createFakeClock, settle } from './fake-clock.js';

/** Records when each take of a list resolved (fake ms), by label. */
function recorder(clock: { now(): number }) {
  const done: Record<string, number> = {};
  return {
    done,
    track(label: string, promise: Promise<void>) {
      void promise.then(() => (done[label] = clock.now()));
    },
  };
}

describe('token bucket', () => {
  it('grants the burst at once, then exactly at the rate', async () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ rate: 100, burst: 10, slice: 10 }, clock);
    const { done, track } = recorder(clock);
    track('burst', bucket.take(10));
    track('next', bucket.take(10));
    track('third', bucket.take(10));
    await settle();
    assert.equal(done.burst, 0, 'the saved-up burst goes at once');
    assert.equal(done.next, undefined);
    await clock.advance(1000);
    // 10 tokens at 100/s: 100 ms each.
    assert.equal(done.next, 100);
    assert.equal(done.third, 200);
  });

  it('slices large takes so a small take queued behind a large one is served in turn, not after it', async () => {
    const clock = createFakeClock();
    // 1,000 bytes/s, burst and slice 100: the big take needs 10 s alone.
    const bucket = createTokenBucket({ rate: 1000, burst: 100, slice: 100 }, clock);
    const { done, track } = recorder(clock);
    track('big', bucket.take(10_000));
    await settle();
    track('small', bucket.take(100));
    await clock.advance(20_000);
    assert.ok(done.small !== undefined && done.big !== undefined);
    assert.ok(done.small <= 300, `the small take waited one or two slices of the big one, not all of it (${done.small} ms)`);
    // The burst of 100 was free; the rest, 10,000 of big and 100 of small, at 1,000/s.
    assert.equal(done.big, 10_000);
  });

  it('shares the rate equally between equal concurrent takes (FIFO slices)', async () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ rate: 1000, burst: 100, slice: 100 }, clock);
    const { done, track } = recorder(clock);
    for (const label of ['a', 'b', 'c']) track(label, bucket.take(1000));
    await clock.advance(10_000);
    // 3,000 tokens, 100 free: 2.9 s for all; they finish within one slice of each other.
    const times = [done.a!, done.b!, done.c!].sort((x, y) => x - y);
    assert.equal(times[2], 2900);
    assert.ok(times[2]! - times[0]! <= 200, `finish times ${times.join(', ')}`);
  });

  it('rate 0 grants everything at once; a new rate applies to takes already waiting', async () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ rate: 0, burst: 1, slice: 1 }, clock);
    await bucket.take(1e9);
    bucket.update({ rate: 10, burst: 1, slice: 1 });
    const { done, track } = recorder(clock);
    track('slow', bucket.take(100)); // 10 s at 10/s
    await clock.advance(1000);
    assert.equal(done.slow, undefined);
    bucket.update({ rate: 0, burst: 1, slice: 1 });
    await clock.advance(0);
    assert.equal(done.slow, 1000, 'turning the cap off releases the waiting take');
  });

  it('an aborted take leaves the queue and the others go on', async () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ rate: 10, burst: 1, slice: 1 }, clock);
    await bucket.take(1);
    const controller = new AbortController();
    const aborted = bucket.take(5, controller.signal);
    const { done, track } = recorder(clock);
    track('other', bucket.take(1));
    controller.abort(new Error('cancelled'));
    await assert.rejects(aborted, /cancelled/);
    await clock.advance(1000);
    assert.ok(done.other !== undefined && done.other <= 200, `the other take went on (${done.other})`);
  });

  it('counts the time takes waited', async () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ rate: 10, burst: 1, slice: 1 }, clock);
    const taken = bucket.take(3); // slices of 1: the first free, each next one 100 ms after it queued
    await clock.advance(1000);
    await taken;
    assert.equal(bucket.waitedMs(), 200, '0 + 100 + 100 ms');
  });

  it('the bandwidth bucket saves half a second of the rate, 64 KiB at least, in slices of 256 KiB at most', () => {
    assert.deepEqual(byteBucketSettings(10 * 1024 * 1024), { rate: 10 * 1024 * 1024, burst: 5 * 1024 * 1024, slice: 256 * 1024 });
    assert.deepEqual(byteBucketSettings(1000), { rate: 1000, burst: 64 * 1024, slice: 64 * 1024 });
  });
});
