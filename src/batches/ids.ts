import { randomUUID } from 'node:crypto';

const BATCH_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A new batch id: a random (v4) UUID, unguessable and free of characters that need escaping. */
export function newBatchId(): string {
  return randomUUID();
}

/** Whether `value` has the form of a batch id (checked before any Redis look-up). */
export function isBatchId(value: unknown): value is string {
  return typeof value === 'string' && BATCH_ID.test(value);
}
