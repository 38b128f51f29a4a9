import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatGoDuration, isBatchId, newBatchId } from '../../src/batches/index.js';

describe('formatGoDuration (Go time.Duration.String)', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [0.000001, '1ns'],
    [0.0015, '1.5µs'],
    [1.5, '1.5ms'],
    [350, '350ms'],
    [999, '999ms'],
    [1000, '1s'],
    [1500, '1.5s'],
    [59_999, '59.999s'],
    [60_000, '1m0s'],
    [62_500, '1m2.5s'],
    [3_600_000, '1h0m0s'],
    [3_723_004, '1h2m3.004s'],
    [90_061_001, '25h1m1.001s'],
    [-1500, '-1.5s'],
  ];
  for (const [ms, expected] of cases) {
    it(`${ms} ms -> ${expected}`, () => assert.equal(formatGoDuration(ms), expected));
  }
});

describe('batch ids', () => {
  it('accepts what newBatchId makes and refuses anything else', () => {
    const id = newBatchId();
    assert.ok(isBatchId(id));
    assert.notEqual(newBatchId(), id);
    for (const bad of ['', 'abc', `${id}x`, id.toUpperCase(), '../etc/passwd', `${id.slice(0, -1)}:`, 42, undefined]) {
      assert.equal(isBatchId(bad), false, String(bad));
    }
  });
});
