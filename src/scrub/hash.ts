import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { nixBase32 } from '../nix/index.js';

/** SHA-256 of a stream, streamed (never held whole), with the bytes seen counted as they pass. */
export async function sha256OfStream(body: Readable, onBytes: (count: number) => void): Promise<Buffer> {
  const hash = createHash('sha256');
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    onBytes((chunk as Buffer).length);
  }
  return hash.digest();
}

/** Whether a narinfo's `FileHash` value (after `sha256:`) names this digest: Nix base-32, or 64 hex digits. */
export function fileHashMatches(expected: string, digest: Buffer): boolean {
  if (/^[0-9a-f]{64}$/i.test(expected)) return expected.toLowerCase() === digest.toString('hex');
  return expected === nixBase32(digest);
}
