/**
 * Path mapping, exactly as the seed's "Core Workflow": a folder published to `store/`
 * keeps its relative paths below that prefix; a file published to a `to` ending in `/`
 * keeps its base name; `to = "/"` means the bucket root. Backslashes become `/`.
 */
import { basename, sep } from 'node:path';

/** Normalises a `to` as given by a client: backslashes to `/`. */
export function normalizeTarget(to: string): string {
  return to.replace(/\\/g, '/');
}

/** Why a `to` value is unusable, or undefined when it is fine. */
export function targetProblem(to: string): string | undefined {
  if (to === '/') return undefined;
  if (to.startsWith('/')) return 'must be a relative key (no leading \'/\'; use "/" alone for the bucket root)';
  if (/[\u0000-\u001f\u007f]/.test(to)) return 'must not contain control characters';
  if (to.split('/').some((segment) => segment === '..')) return "must not contain a '..' segment";
  if (Buffer.byteLength(to) > 1024) return 'must be at most 1024 bytes';
  return undefined;
}

/** The key prefix under which a folder's files land. */
export function folderPrefix(to: string): string {
  if (to === '/') return '';
  return to.endsWith('/') ? to : `${to}/`;
}

/** Key of a file at `relativePath` (OS separators) inside a folder published to `to`. */
export function keyForFolderFile(to: string, relativePath: string): string {
  return folderPrefix(to) + relativePath.split(sep).join('/').replace(/\\/g, '/');
}

/** Key of a single published file. */
export function keyForSingleFile(to: string, filePath: string): string {
  if (to === '/') return basename(filePath);
  return to.endsWith('/') ? to + basename(filePath) : to;
}
