import { formatGoDuration } from './duration.js';

export type BatchState = 'queued' | 'running' | 'done' | 'failed';

/** The seed's `SyncItemResult`, plus `skipped_files`. */
export interface BatchItemResult {
  from: string;
  to: string;
  total_files: number;
  uploaded_files: number;
  skipped_files: number;
  /** Keys of this item's files that failed for good. */
  failed_files: string[];
}

/** The seed's `SyncResult`, plus state, counts, reasons and times. */
export interface BatchResult {
  items: BatchItemResult[];
  total_files: number;
  uploaded_files: number;
  failed_files: string[];
  duration: string;
  batch_id: string;
  state: BatchState;
  skipped_files: number;
  /** Why each failed file failed. */
  failures: Array<{ s3_key: string; reason: string }>;
  created_at: string;
  finished_at: string | null;
}

/** A batch's counters, as progress events carry them. */
export interface BatchProgress {
  batch_id: string;
  state: BatchState;
  /** Files in the batch (known once the publish has walked every folder). */
  total_files: number;
  /** Files with a final outcome (uploaded, skipped or failed). */
  processed_files: number;
  uploaded_files: number;
  skipped_files: number;
  failed_count: number;
  duration: string;
  /** True once the batch will not change any more (a final result is available). */
  finished: boolean;
}

function count(fields: Record<string, string>, name: string): number {
  const value = Number(fields[name] ?? 0);
  return Number.isFinite(value) ? value : 0;
}

function stateOf(fields: Record<string, string>): BatchState {
  if (fields.finished_at !== undefined) return count(fields, 'failed') > 0 ? 'failed' : 'done';
  return fields.started_at !== undefined || count(fields, 'done') > 0 ? 'running' : 'queued';
}

function durationOf(fields: Record<string, string>, now: number): string {
  const end = fields.finished_at !== undefined ? count(fields, 'finished_at') : now;
  return formatGoDuration(Math.max(0, end - count(fields, 'created_at')));
}

export function toBatchProgress(id: string, fields: Record<string, string>, now: number): BatchProgress {
  return {
    batch_id: id,
    state: stateOf(fields),
    total_files: count(fields, 'total'),
    processed_files: count(fields, 'done'),
    uploaded_files: count(fields, 'uploaded'),
    skipped_files: count(fields, 'skipped'),
    failed_count: count(fields, 'failed'),
    duration: durationOf(fields, now),
    finished: fields.finished_at !== undefined,
  };
}

/**
 * Builds the result from the batch hash, the set of failed `<item>\t<key>` members and
 * their reasons.
 */
export function toBatchResult(
  id: string,
  fields: Record<string, string>,
  failedMembers: string[],
  reasons: Record<string, string>,
  now: number,
): BatchResult {
  let requested: Array<{ from: string; to: string }> = [];
  try {
    requested = JSON.parse(fields.items ?? '[]') as Array<{ from: string; to: string }>;
  } catch {
    // a damaged hash still answers with its counters
  }
  const failedByItem = new Map<number, string[]>();
  const failures: BatchResult['failures'] = [];
  for (const member of [...failedMembers].sort(compareMembers)) {
    const tab = member.indexOf('\t');
    const item = Number(member.slice(0, tab));
    const key = member.slice(tab + 1);
    const list = failedByItem.get(item) ?? [];
    list.push(key);
    failedByItem.set(item, list);
    failures.push({ s3_key: key, reason: reasons[member] ?? 'failed' });
  }
  const items = requested.map(({ from, to }, index) => ({
    from,
    to,
    total_files: count(fields, `i${index}:total`),
    uploaded_files: count(fields, `i${index}:uploaded`),
    skipped_files: count(fields, `i${index}:skipped`),
    failed_files: failedByItem.get(index) ?? [],
  }));
  return {
    items,
    total_files: count(fields, 'total'),
    uploaded_files: count(fields, 'uploaded'),
    failed_files: failures.map((failure) => failure.s3_key),
    duration: durationOf(fields, now),
    batch_id: id,
    state: stateOf(fields),
    skipped_files: count(fields, 'skipped'),
    failures,
    created_at: new Date(count(fields, 'created_at')).toISOString(),
    finished_at: fields.finished_at !== undefined ? new Date(count(fields, 'finished_at')).toISOString() : null,
  };
}

/** Orders failed members by item index, then key. */
function compareMembers(a: string, b: string): number {
  const itemA = Number(a.slice(0, a.indexOf('\t')));
  const itemB = Number(b.slice(0, b.indexOf('\t')));
  return itemA !== itemB ? itemA - itemB : a < b ? -1 : a > b ? 1 : 0;
}
