export { UPLOAD_QUEUE, FILE_SYNC_SINGLE, type FileSyncJobData, type FileSyncResult } from './jobs.js';
export { redisConnectionOptions, workerConnection, createFailFastRedis, closeRedis, type RedisClient } from './redis.js';
export { uploadJobOptions, uploadRetention } from './options.js';
export { closeWithin, closeWorkerWithin, CLOSE_GRACE_MS, createInFlight, type InFlight, type Closable } from './close.js';
