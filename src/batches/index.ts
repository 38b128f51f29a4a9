export { createBatchStore, type BatchStore, type BatchStoreOptions, type OutcomeClass, type JobOrder, type GateAnswer } from './store.js';
export type { OutcomeEntry, SealTotals } from './store.js';
export { createBatchTracker, type BatchTracker, type OrderingDecision } from './tracker.js';
export { followBatch, type BatchFollower, type FollowEvents } from './follow.js';
export { newBatchId, isBatchId } from './ids.js';
export { formatGoDuration } from './duration.js';
export type { BatchResult, BatchItemResult, BatchProgress, BatchState } from './result.js';
