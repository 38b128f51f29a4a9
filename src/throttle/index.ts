export { createUploadThrottle, byteBucketSettings, requestBucketSettings, MAX_PAUSE_MS } from './upload-throttle.js';
export type { UploadThrottle, ThrottleSettings, ThrottleStats, ThrottleMetrics } from './upload-throttle.js';
export { createTokenBucket, type TokenBucket, type TokenBucketSettings } from './token-bucket.js';
export {
  createConcurrencyController,
  DECREASE_HOLD_MS,
  type ConcurrencyController,
  type ConcurrencySettings,
  type LimitChange,
} from './concurrency.js';
export { isThrottlingError, throttlingCode, retryAfterMs, answerOf, type StorageAnswer } from './answers.js';
export { systemClock, type Clock } from './clock.js';
