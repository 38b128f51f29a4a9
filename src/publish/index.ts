export { createPublisher, type Publisher, type PublisherOptions, type PublishSummary, type JobSink } from './publisher.js';
export { parseSyncItems, type SyncItem } from './items.js';
export { keyForFolderFile, keyForSingleFile, folderPrefix, normalizeTarget, targetProblem } from './keys.js';
export { walkFiles, hasAnyFile, type WalkedFile } from './walk.js';
