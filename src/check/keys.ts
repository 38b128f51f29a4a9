/**
 * Which object keys `/check` (and anything else that takes a key from a client) accepts.
 * Pure functions, no I/O: they run on the hot path of every check.
 */

/** S3's own limit on key length, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

// C0 controls, DEL and C1 controls: never part of a key a client means to send.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
// A `..` or `.` segment, or an empty one (`//`): path tricks, or keys the fs backend would alias.
const BAD_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)|\/\//;

/**
 * Why `key` is not a well-formed object key, or undefined when it is. Messages are
 * meant for the client (`invalid s3 key: ...`).
 */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 's3 key is required';
  // Only long strings can exceed the limit in bytes; skip the byte count for the rest.
  if (key.length > MAX_KEY_BYTES || (key.length > MAX_KEY_BYTES / 4 && Buffer.byteLength(key) > MAX_KEY_BYTES)) {
    return `invalid s3 key: longer than ${MAX_KEY_BYTES} bytes`;
  }
  if (key.charCodeAt(0) === 0x2f) return "invalid s3 key: must not start with '/'";
  if (key.includes('\\')) return 'invalid s3 key: must not contain backslashes';
  if (CONTROL_CHARACTER.test(key)) return 'invalid s3 key: must not contain control characters';
  if (BAD_SEGMENT.test(key)) {
    return key.split('/').some((segment) => segment === '..')
      ? 'invalid s3 key: path traversal detected'
      : "invalid s3 key: must not contain empty or '.' segments";
  }
  if (key.charCodeAt(key.length - 1) === 0x2f) return "invalid s3 key: must not contain empty or '.' segments";
  return undefined;
}

/** The key starts with one of the allowed prefixes (`cache.allowed_prefixes`). */
export function hasAllowedPrefix(key: string, allowedPrefixes: readonly string[]): boolean {
  for (const prefix of allowedPrefixes) if (key.startsWith(prefix)) return true;
  return false;
}
