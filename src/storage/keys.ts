/**
 * Which object keys sync4loong writes and answers for: the one rule that publish (the keys
 * it enqueues), the worker (the keys of the jobs it runs) and `/check` (the keys it is
 * asked about) share, so that every key a publish uploads can be checked. Pure functions,
 * no I/O: they run on the hot path of every check.
 */

/** S3's own limit on key length, in UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;

// C0 controls, DEL and C1 controls: never part of a key a client means to send.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
// A `..` or `.` segment, or an empty one (`//`): path tricks, or keys the fs backend would alias.
const BAD_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)|\/\//;

/**
 * Why `key` is not a well-formed object key, or undefined when it is: a reason each caller
 * words into its own message (`invalid s3 key: ...`, `'to' ... for item 0`).
 */
export function keyDefect(key: string): string | undefined {
  if (key.length === 0) return 'must not be empty';
  // Only long strings can exceed the limit in bytes; skip the byte count for the rest.
  if (key.length > MAX_KEY_BYTES || (key.length > MAX_KEY_BYTES / 4 && Buffer.byteLength(key) > MAX_KEY_BYTES)) {
    return `longer than ${MAX_KEY_BYTES} bytes`;
  }
  if (key.charCodeAt(0) === 0x2f) return "must not start with '/'";
  if (key.includes('\\')) return 'must not contain backslashes';
  if (CONTROL_CHARACTER.test(key)) return 'must not contain control characters';
  if (BAD_SEGMENT.test(key)) {
    return key.split('/').some((segment) => segment === '..')
      ? "path traversal detected (a '..' segment)"
      : "must not contain empty or '.' segments";
  }
  if (key.charCodeAt(key.length - 1) === 0x2f) return "must not contain empty or '.' segments";
  return undefined;
}
