import type { ManifestEntry } from './fixtures.js';

export interface Verification {
  ok: boolean;
  objects: number;
  missing: number;
  extra: number;
  wrongSize: number;
  wrongMd5: number;
  /** A few problems, for the log. */
  examples: string[];
}

/**
 * Compares a bucket listing with the fixture: same keys, same sizes, and an ETag equal to
 * the file's MD5 (s3rver answers the plain MD5 even for multipart uploads).
 */
export function verifyListing(expected: ManifestEntry[], listed: Array<{ key: string; size: number; etag: string }>): Verification {
  const byKey = new Map(listed.map((object) => [object.key, object]));
  const result: Verification = { ok: false, objects: listed.length, missing: 0, extra: 0, wrongSize: 0, wrongMd5: 0, examples: [] };
  const note = (text: string) => {
    if (result.examples.length < 5) result.examples.push(text);
  };
  for (const file of expected) {
    const object = byKey.get(file.key);
    if (object === undefined) {
      result.missing++;
      note(`missing ${file.key}`);
    } else if (object.size !== file.size) {
      result.wrongSize++;
      note(`${file.key}: size ${object.size}, expected ${file.size}`);
    } else if (object.etag !== file.md5) {
      result.wrongMd5++;
      note(`${file.key}: ETag ${object.etag}, MD5 ${file.md5}`);
    }
    byKey.delete(file.key);
  }
  result.extra = byKey.size;
  for (const key of [...byKey.keys()].slice(0, 3)) note(`extra ${key}`);
  result.ok = result.missing === 0 && result.extra === 0 && result.wrongSize === 0 && result.wrongMd5 === 0;
  return result;
}
