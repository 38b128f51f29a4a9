export { UPLOAD_QUEUE, FILE_SYNC_SINGLE, type FileSyncJobData, type FileSyncResult } from './jobs.js';
export { redisConnectionOptions, workerConnection, createFailFastRedis, closeRedis, type RedisClient } from './redis.js';
export { uploadJobOptions, uploadRetention } from './options.js';
export {
  abandonWorker,
  closeWithin,
  CLOSE_GRACE_MS,
  createInFlight,
  type InFlight,
  letBlockingConnectionSettle,
  type Closable,
} from './close.js';
