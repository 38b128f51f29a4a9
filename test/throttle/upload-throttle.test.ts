import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createUploadThrottle, type ThrottleSettings } from '../../src/throttle/index.js';
import { capturingLogger } from '../config/live-app.js';
import { createFakeClock, settle } from './fake-clock.js';

const settings: ThrottleSettings = {
  maxBytesPerSecond: 0,
  maxRequestsPerSecond: 0,
  pauseMs: 1000,
  concurrency: { max: 16, min: 1, recoverAfter: 2 },
};

describe('upload throttle', () => {
  it('a throttling answer pauses requests for its Retry-After (else the pause), and halves the limit', async () => {
    const clock = createFakeClock();
    const throttle = createUploadThrottle({ log: capturingLogger('error').log, clock }, settings);
    const limits: number[] = [];
    throttle.onLimitChange((limit) => limits.push(limit));
    await throttle.request(); // nothing holds it
    throttle.answered({ status: 429, code: 'TooManyRequests', retryAfter: '3' });
    assert.equal(throttle.limit(), 8);
    assert.equal(throttle.stats().paused_ms, 3000);
    let sent = false;
    void throttle.request().then(() => (sent = true));
    await clock.advance(2999);
    assert.equal(sent, false, 'not before Retry-After');
    await clock.advance(1);
    assert.equal(sent, true);

    throttle.answered({ status: 503, code: 'SlowDown' });
    assert.equal(throttle.stats().paused_ms, 1000, 'no Retry-After: the configured pause');
    assert.equal(throttle.limit(), 4);
    throttle.answered({ status: 503, code: 'ServiceUnavailable' }); // an outage: no pause, no decrease
    throttle.answered({ status: 200 });
    assert.equal(throttle.stats().throttled_responses, 2);
    assert.deepEqual(limits, [8, 4]);
  });

  it('logs decreases at info at most once per 10 s (counting the others), and the recovery', async () => {
    const clock = createFakeClock();
    const { log, lines } = capturingLogger('info');
    const throttle = createUploadThrottle({ log, clock }, { ...settings, concurrency: { max: 64, min: 1, recoverAfter: 2 } });
    for (let i = 0; i < 4; i += 1) {
      throttle.answered({ status: 503, code: 'SlowDown' });
      await clock.advance(1000);
    }
    assert.equal(throttle.limit(), 4);
    const lowered = () => lines.filter((line) => line.includes('upload concurrency lowered'));
    assert.equal(lowered().length, 1);
    assert.match(lowered()[0]!, /from=64 to=32/);
    await clock.advance(10_000);
    throttle.answered({ status: 429 });
    assert.equal(lowered().length, 2);
    assert.match(lowered()[1]!, /decreases_not_logged=3/);
    assert.equal(throttle.limit(), 2);
    for (let i = 0; i < 2 * 62; i += 1) throttle.succeeded();
    assert.equal(throttle.limit(), 64);
    assert.equal(lines.filter((line) => line.includes('upload concurrency recovered')).length, 1);
  });

  it('caps bytes and requests at the configured rates, reloaded live', async () => {
    const clock = createFakeClock();
    const throttle = createUploadThrottle({ log: capturingLogger('error').log, clock }, { ...settings, maxRequestsPerSecond: 4 });
    let granted = 0;
    for (let i = 0; i < 9; i += 1) void throttle.request().then(() => (granted += 1));
    await settle();
    assert.equal(granted, 1, 'a burst of a quarter second: 1 request');
    await clock.advance(1000);
    assert.equal(granted, 5, '4 more in the next second');
    throttle.update({ ...settings, maxRequestsPerSecond: 0 });
    await clock.advance(0);
    assert.equal(granted, 9, 'the limit lifted: the rest at once');
    throttle.update({ ...settings, maxBytesPerSecond: 1024 * 1024 });
    let bytes = false;
    void throttle.bytes(1024 * 1024 + 256 * 1024).then(() => (bytes = true));
    await clock.advance(749);
    assert.equal(bytes, false);
    await clock.advance(1);
    assert.equal(bytes, true, '1.25 MiB at 1 MiB/s with 512 KiB saved up: 0.75 s');
    assert.equal(throttle.stats().max_upload_bytes_per_second, 1024 * 1024);
  });
});
