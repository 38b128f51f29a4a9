import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isThrottlingError, retryAfterMs, throttlingCode } from '../../src/throttle/index.js';
import { s3ErrorFromReply } from '../../src/storage/s3-http.js';

describe('throttling answers', () => {
  it('knows 429, SlowDown, TooManyRequests and Retry-After, and nothing else', () => {
    assert.equal(throttlingCode({ status: 503, code: 'SlowDown' }), 'SlowDown');
    assert.equal(throttlingCode({ status: 429, code: 'TooManyRequests' }), 'TooManyRequests');
    assert.equal(throttlingCode({ status: 429 }), 'TooManyRequests');
    assert.equal(throttlingCode({ status: 503, code: 'ServiceUnavailable', retryAfter: '3' }), 'ServiceUnavailable');
    assert.equal(throttlingCode({ status: 503, code: 'ServiceUnavailable' }), undefined, 'an outage, not throttling');
    assert.equal(throttlingCode({ status: 200 }), undefined);
    assert.equal(throttlingCode({ status: 403, code: 'AccessDenied' }), undefined);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(retryAfterMs('2'), 2000);
    assert.equal(retryAfterMs('0.5'), 500);
    assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', Date.parse('2026-01-01T00:00:00Z')), 10_000);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterMs(undefined), undefined);
  });

  it('sees the lean path errors and the SDK errors', () => {
    const slowDown = s3ErrorFromReply(503, '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    assert.equal(isThrottlingError(slowDown), true);
    assert.equal(isThrottlingError(s3ErrorFromReply(503, '', { 'retry-after': '1' })), true);
    assert.equal(isThrottlingError(s3ErrorFromReply(503, '')), false);
    const sdk = Object.assign(new Error('x'), { name: 'TooManyRequests', $metadata: { httpStatusCode: 429 } });
    assert.equal(isThrottlingError(sdk), true);
    assert.equal(isThrottlingError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), false);
  });
});
