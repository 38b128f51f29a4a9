export { createExistenceRecorder, cacheKey, type ExistenceRecorder, type CacheEntry, type CacheKeyOptions } from './recorder.js';
