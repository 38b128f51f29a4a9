/**
 * Nix-aware ordering, decided while the folder is walked (nothing is collected in memory):
 * a `.narinfo` whose `URL:` names a NAR inside the same published folder is ordered after
 * that NAR's key; every `nix-cache-info` goes after the rest of its batch.
 */
import { realpath } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { isNarinfo, isNixCacheInfo, NARINFO_READ_LIMIT, narPathOf, parseNarinfo, readNarinfo } from '../nix/index.js';
import { keyForFolderFile, targetProblem } from './keys.js';
import { readHeadQuickly, statOrUndefined } from './quick-fs.js';
import { isInsideOrEqual, type RootPolicy } from './roots.js';

export interface NixOrder {
  /** Upload only once this key of the same batch is in the bucket. */
  wait_for_key?: string;
  /** Upload only after every other file of the batch has a final outcome. */
  wait_for_batch?: boolean;
}

/** Ordering of a file published on its own (`from` is a file). */
export function nixOrderOfSingleFile(path: string): NixOrder {
  return isNixCacheInfo(path) ? { wait_for_batch: true } : {};
}

/** Ordering of a file found in a published folder (`root`, real path, published to `to`). */
export async function nixOrderOfFolderFile(path: string, folder: { root: string; to: string }, roots: RootPolicy): Promise<NixOrder> {
  if (isNixCacheInfo(path)) return { wait_for_batch: true };
  if (!isNarinfo(path)) return {};
  const key = await narKeyOf(path, folder, roots);
  return key === undefined ? {} : { wait_for_key: key };
}

/**
 * The key of the NAR a narinfo names, when that NAR is a file the walk of the same folder
 * publishes too (same checks as the walk: a regular file, inside the folder and the
 * allowed roots, with a valid key). Anything else: undefined, and the narinfo is not held.
 */
async function narKeyOf(narinfoPath: string, folder: { root: string; to: string }, roots: RootPolicy): Promise<string | undefined> {
  const fields = await readNarinfoFields(narinfoPath).catch(() => undefined);
  const url = fields?.get('URL');
  const relativeNar = url === undefined ? undefined : narPathOf(url);
  if (relativeNar === undefined) return undefined;
  const narPath = resolve(dirname(narinfoPath), relativeNar);
  if (narPath === folder.root || !isInsideOrEqual(folder.root, narPath)) return undefined;
  // Never wait on a file that itself waits: no cycles.
  if (isNarinfo(narPath) || isNixCacheInfo(narPath)) return undefined;
  const info = await statOrUndefined(narPath);
  if (!info?.isFile()) return undefined;
  if (roots.restricted && !roots.allows(await realpath(narPath).catch(() => ''))) return undefined;
  const key = keyForFolderFile(folder.to, relative(folder.root, narPath));
  return targetProblem(key) === undefined ? key : undefined;
}

/** `readNarinfo`, through the walk's quick reads (quick-fs.ts says why). */
async function readNarinfoFields(path: string): Promise<Map<string, string>> {
  const head = await readHeadQuickly(path, NARINFO_READ_LIMIT);
  if (head === undefined) return readNarinfo(path);
  // As readNarinfo: a line cut off by the limit is dropped.
  return parseNarinfo(head.truncated ? head.text.slice(0, head.text.lastIndexOf('\n') + 1) : head.text);
}
