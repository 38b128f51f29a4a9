export { createExistenceRecorder, cacheKey, type ExistenceRecorder, type CacheEntry, type CacheKeyOptions } from './recorder.js';
export {
  createExistenceChecker,
  type ExistenceChecker,
  type ExistenceCheckerOptions,
  type CheckAnswer,
  type BatchAnswer,
} from './checker.js';
export { keyProblem, hasAllowedPrefix, MAX_KEY_BYTES } from './keys.js';
export { noCheckMetrics, type CheckMetrics } from './metrics.js';
