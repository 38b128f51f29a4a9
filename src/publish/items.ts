/**
 * Validation of a `POST /publish` body: the seed's JSON array of
 * `{from, to, delete_after_sync?, overwrite?}`, plus the Go daemon's `unique?`. Every item is checked before anything is
 * enqueued; messages name the item index as the Go daemon did
 * (`'from' field is required for item 0`). Unknown fields are ignored.
 */
import { isAbsolute } from 'node:path';
import { errors } from '../errors.js';
import { normalizeTarget, targetProblem } from './keys.js';

export interface SyncItem {
  from: string;
  to: string;
  delete_after_sync: boolean;
  overwrite: boolean;
  /** The Go daemon's `unique`: skip a file whose key has a task queued, running or finished within 24 h. */
  unique: boolean;
}

const CONTROL = /[\u0000-\u001f\u007f]/;

export function parseSyncItems(body: unknown, maxItems: number): SyncItem[] {
  if (!Array.isArray(body)) throw errors.badRequest('request body must be a JSON array of {"from", "to"} items');
  if (body.length === 0) throw errors.badRequest('no items to publish: the array is empty');
  if (body.length > maxItems) throw errors.tooManyItems(maxItems);
  return body.map((item: unknown, index) => parseItem(item, index));
}

function parseItem(item: unknown, index: number): SyncItem {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw errors.invalidItem(`item ${index} must be an object with "from" and "to"`);
  }
  const record = item as Record<string, unknown>;
  const from = requiredString(record, 'from', index);
  const to = normalizeTarget(requiredString(record, 'to', index));
  if (CONTROL.test(from)) throw errors.invalidItem(`'from' must not contain control characters for item ${index}`);
  if (!isAbsolute(from)) throw errors.invalidItem(`'from' must be an absolute path for item ${index}`);
  const problem = targetProblem(to);
  if (problem !== undefined) throw errors.invalidItem(`'to' ${problem} for item ${index}`);
  return {
    from,
    to,
    delete_after_sync: optionalBoolean(record, 'delete_after_sync', index),
    overwrite: optionalBoolean(record, 'overwrite', index),
    unique: optionalBoolean(record, 'unique', index),
  };
}

function requiredString(record: Record<string, unknown>, field: string, index: number): string {
  const value = record[field];
  if (value === undefined || value === null || value === '') throw errors.invalidItem(`'${field}' field is required for item ${index}`);
  if (typeof value !== 'string') throw errors.invalidItem(`'${field}' must be a string for item ${index}`);
  return value;
}

function optionalBoolean(record: Record<string, unknown>, field: string, index: number): boolean {
  const value = record[field];
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw errors.invalidItem(`'${field}' must be true or false for item ${index}`);
  return value;
}
