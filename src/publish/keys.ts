/**
 * Path mapping, exactly as the seed's "Core Workflow": a folder published to `store/`
 * keeps its relative paths below that prefix; a file published to a `to` ending in `/`
 * keeps its base name; `to = "/"` means the bucket root. Backslashes become `/`.
 */
import { basename, sep } from 'node:path';
import { keyDefect } from '../storage/index.js';

/** Normalises a `to` as given by a client: backslashes to `/`. */
export function normalizeTarget(to: string): string {
  return to.replace(/\\/g, '/');
}

/**
 * Why a `to` value is unusable, or undefined when it is fine. `to` is a key, or a prefix
 * ending in `/`: it must be a key `/check` accepts once its trailing `/` is dropped, so
 * every key a publish uploads can be checked (the storage's one key rule).
 */
export function targetProblem(to: string): string | undefined {
  if (to === '/') return undefined;
  if (to.startsWith('/')) return 'must be a relative key (no leading \'/\'; use "/" alone for the bucket root)';
  return keyDefect(to.endsWith('/') ? to.slice(0, -1) : to);
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
  // Backslashes become `/` as in a folder's keys.
  const name = basename(filePath).replace(/\\/g, '/');
  if (to === '/') return name;
  return to.endsWith('/') ? to + name : to;
}
