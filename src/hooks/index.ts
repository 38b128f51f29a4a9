export {
  createPostSync,
  POST_SYNC_QUEUE,
  MAX_REPORTED_KEYS,
  OUTPUT_TAIL_BYTES,
  HISTORY_SIZE,
  type PostSync,
  type PostSyncOptions,
  type PostSyncReport,
  type PostSyncJobData,
  type PostSyncResult,
} from './post-sync.js';
export { postSyncOptions } from './options.js';
export { splitCommand, parseCommand, CommandSyntaxError, type ParsedCommand } from './words.js';
export { runCommand, terminateGroup, type CommandResult, type RunCommandOptions } from './run-command.js';
export { createChangeSet, type ChangeSet, type ChangeBatch, type PendingTiming } from './changes.js';
export { createUploadNotifier, type UploadNotifier } from './notifier.js';
export type { HookRun } from './history.js';
export { noHookMetrics, type HookMetrics, type HookOutcome } from './metrics.js';
