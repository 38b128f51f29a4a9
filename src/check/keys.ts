/**
 * Which object keys `/check` (and anything else that takes a key from a client) accepts:
 * the storage's one key rule (`keyDefect`, shared with publish and the worker), worded for
 * the client. Pure functions, no I/O: they run on the hot path of every check.
 */
import { keyDefect, MAX_KEY_BYTES } from '../storage/index.js';

export { MAX_KEY_BYTES };

/**
 * Why `key` is not a well-formed object key, or undefined when it is. Messages are
 * meant for the client (`invalid s3 key: ...`).
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 's3 key is required';
  const defect = keyDefect(key);
  return defect === undefined ? undefined : `invalid s3 key: ${defect}`;
}

/** The key starts with one of the allowed prefixes (`cache.allowed_prefixes`). */
export function hasAllowedPrefix(key: string, allowedPrefixes: readonly string[]): boolean {
  for (const prefix of allowedPrefixes) if (key.startsWith(prefix)) return true;
  return false;
}
