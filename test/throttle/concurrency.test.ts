import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createConcurrencyController, type LimitChange } from '../../src/throttle/index.js';
import { createFakeClock } from './fake-clock.js';

describe('AIMD concurrency controller', () => {
  it('halves on throttling, once per hold time, never below min; adds one back per K successes up to max', async () => {
    const clock = createFakeClock();
    const control = createConcurrencyController({ max: 32, min: 3, recoverAfter: 5 }, clock);
    const changes: LimitChange[] = [];
    control.onChange((change) => changes.push(change));
    assert.equal(control.limit(), 32);

    control.throttled();
    control.throttled(); // the same episode: in flight when the storage began refusing
    assert.equal(control.limit(), 16);
    await clock.advance(1000);
    control.throttled();
    assert.equal(control.limit(), 8);
    for (const _ of [1, 2, 3]) {
      await clock.advance(1000);
      control.throttled();
    }
    assert.equal(control.limit(), 3, '8 -> 4 -> 3 (min), and stays');

    for (let i = 0; i < 4; i += 1) control.succeeded();
    assert.equal(control.limit(), 3, 'not before 5 successes');
    control.succeeded();
    assert.equal(control.limit(), 4);
    control.throttled(); // resets the count, within hold: no decrease
    assert.equal(control.limit(), 4);
    for (let i = 0; i < 4; i += 1) control.succeeded();
    assert.equal(control.limit(), 4, 'the count started again after the throttling answer');
    for (let i = 0; i < 5 * 40; i += 1) control.succeeded();
    assert.equal(control.limit(), 32, 'up to max, no further');
    assert.deepEqual(
      changes.map((change) => [change.from, change.to, change.reason]),
      [
        [32, 16, 'throttled'],
        [16, 8, 'throttled'],
        [8, 4, 'throttled'],
        [4, 3, 'throttled'],
        ...Array.from({ length: 29 }, (_, i) => [3 + i, 4 + i, 'recovered']),
      ],
    );
  });

  it('a new max applies at once when unthrottled, and caps a throttled limit', async () => {
    const clock = createFakeClock();
    const control = createConcurrencyController({ max: 8, min: 1, recoverAfter: 1 }, clock);
    control.update({ max: 12, min: 1, recoverAfter: 1 });
    assert.equal(control.limit(), 12);
    control.throttled();
    assert.equal(control.limit(), 6);
    control.update({ max: 4, min: 1, recoverAfter: 1 });
    assert.equal(control.limit(), 4);
    await clock.advance(1000);
    control.throttled();
    assert.equal(control.limit(), 2);
    control.update({ max: 10, min: 1, recoverAfter: 1 });
    assert.equal(control.limit(), 2, 'still throttled: recovery brings it up');
    control.update({ max: 10, min: 7, recoverAfter: 1 });
    assert.equal(control.limit(), 7, 'a higher min lifts it');
  });
});
