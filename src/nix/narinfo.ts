/**
 * Nix binary-cache files: `<hash>.narinfo` (a small `Key: value` text naming its NAR by
 * `URL:`, relative to the cache root) and `nix-cache-info` (the cache's own description).
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

/** Fields a substituter needs in every narinfo (`[nix] validate_narinfo`). */
export const REQUIRED_NARINFO_FIELDS = ['StorePath', 'URL', 'NarHash', 'NarSize'] as const;

/** Narinfos are a few KiB; more than this is not read (the fields that matter come first). */
export const NARINFO_READ_LIMIT = 64 * 1024;

function baseName(pathOrKey: string): string {
  return pathOrKey.slice(Math.max(pathOrKey.lastIndexOf('/'), pathOrKey.lastIndexOf('\\')) + 1);
}

export function isNarinfo(pathOrKey: string): boolean {
  return baseName(pathOrKey).endsWith('.narinfo');
}

export function isNixCacheInfo(pathOrKey: string): boolean {
  return baseName(pathOrKey) === 'nix-cache-info';
}

/** The `Key: value` fields of a narinfo (the first occurrence of each key wins). */
export function parseNarinfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const key = line.slice(0, colon).trim();
    if (!fields.has(key)) fields.set(key, line.slice(colon + 1).trim());
  }
  return fields;
}

/** Required fields that are absent or empty. */
export function missingNarinfoFields(fields: Map<string, string>): string[] {
  return REQUIRED_NARINFO_FIELDS.filter((name) => (fields.get(name) ?? '') === '');
}

/** Reads and parses the first `NARINFO_READ_LIMIT` bytes of a narinfo (a cut-off last line is dropped). */
export async function readNarinfo(path: string): Promise<Map<string, string>> {
  // Never blocks: a FIFO named like a narinfo opens at once, and is refused below.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return await readNarinfoFrom(handle);
  } finally {
    await handle.close();
  }
}

/** `readNarinfo` of a file already open (positional reads). Throws when it is not a regular file. */
export async function readNarinfoFrom(handle: FileHandle): Promise<Map<string, string>> {
  const info = await handle.stat();
  if (!info.isFile()) throw new Error('not a regular file');
  const { size } = info;
  const buffer = Buffer.alloc(Math.min(size, NARINFO_READ_LIMIT));
  let length = 0;
  while (length < buffer.length) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    if (bytesRead === 0) break;
    length += bytesRead;
  }
  let text = buffer.subarray(0, length).toString('utf8');
  if (size > NARINFO_READ_LIMIT) text = text.slice(0, text.lastIndexOf('\n') + 1);
  return parseNarinfo(text);
}

/**
 * The path a narinfo's `URL` names, relative to the narinfo's folder, or undefined when
 * the URL is absolute, has a scheme, or holds control characters (nothing to order on).
 */
export function narPathOf(url: string): string | undefined {
  if (url === '' || /^[A-Za-z][A-Za-z0-9+.-]*:/.test(url) || url.startsWith('/') || /[\u0000-\u001f\u007f]/.test(url)) {
    return undefined;
  }
  const path = url.split(/[?#]/, 1)[0] ?? '';
  return path === '' ? undefined : path;
}
