export { createFileSync, shouldUpload, PermanentError, type FileSync, type SyncDeps } from './handler.js';
export { createUploadWorker, type UploadWorker, type UploadWorkerOptions, type UploadWorkerSettings } from './worker.js';
export { contentTypeFor } from './content-type.js';
export { deleteUploadedFile, removeEmptyParents } from './cleanup.js';
export { jobDataProblem } from './validate.js';
export { completeJobData } from './payload.js';
export { noSyncMetrics, type SyncMetrics } from './metrics.js';
export { createOutageGate, isUnreachableError, type OutageGate } from './outage.js';
export type { JobContext, SyncOptions } from './handler.js';
