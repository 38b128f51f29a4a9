export { createPublisher, type Publisher } from './publisher.js';
export type { PublisherOptions, PublishSummary, JobSink, BatchLedger, BucketView, SkippedEntry } from './types.js';
export { createIdempotentPublisher, isIdempotencyKey, type IdempotentPublisher } from './idempotency.js';
export { parseSyncItems, type SyncItem } from './items.js';
export { keyForFolderFile, keyForSingleFile, folderPrefix, normalizeTarget, targetProblem } from './keys.js';
export { walkFiles, hasAnyFile, type WalkedFile } from './walk.js';
export { createRootPolicy, isInsideOrEqual, type RootPolicy } from './roots.js';
export { createUniqueKeys, trackingUniqueKeys, uniqueClaimKey, UNIQUE_WINDOW_SECONDS, type UniqueKeys } from './unique.js';
