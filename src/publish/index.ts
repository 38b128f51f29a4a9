export {
  createPublisher,
  type Publisher,
  type PublisherOptions,
  type PublishSummary,
  type JobSink,
  type BatchLedger,
} from './publisher.js';
export { createIdempotentPublisher, isIdempotencyKey, type IdempotentPublisher } from './idempotency.js';
export { parseSyncItems, type SyncItem } from './items.js';
export { keyForFolderFile, keyForSingleFile, folderPrefix, normalizeTarget, targetProblem } from './keys.js';
export { walkFiles, hasAnyFile, type WalkedFile } from './walk.js';
export { createRootPolicy, isInsideOrEqual, type RootPolicy } from './roots.js';
export type { SkippedEntry } from './publisher.js';
