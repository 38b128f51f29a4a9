/**
 * The pure decisions of a scrub: which keys are narinfos, NARs or the cache description,
 * what a narinfo promises, and whether `nix-cache-info` is usable.
 */
import { posix } from 'node:path';
import { narPathOf, parseNarinfo } from '../nix/index.js';
import type { ProblemKind } from './types.js';

/** Where repair keeps what it removed; never listed, never deleted by scrub. */
export const QUARANTINE_PREFIX = '_quarantine/';

/** A NAR as Nix names them: `<hash>.nar`, compressed `<hash>.nar.xz`, `.nar.zst`, `.nar.bz2`... */
export function isNarKey(key: string): boolean {
  return /\.nar(\.[A-Za-z0-9]+)?$/.test(key);
}

/** The folder a scrub of `prefix` treats as the cache root (`store/` for `store/` or `store/ab`). */
export function cacheRootOf(prefix: string): string {
  return prefix.slice(0, prefix.lastIndexOf('/') + 1);
}

/** What a narinfo promises about its NAR (FileSize / FileHash of the stored, maybe compressed, file). */
export interface NarinfoFacts {
  /** The NAR's key in the bucket (the URL resolved against the narinfo's folder). */
  nar: string;
  fileSize?: number | undefined;
  /** Nix base-32 SHA-256 of the stored file, when `FileHash` is `sha256:...`. */
  fileHash?: string | undefined;
}

export type NarinfoVerdict = { facts: NarinfoFacts } | { problem: ProblemKind; detail: string; nar?: string | undefined };

const STORE_HASH = /^[0-9abcdfghijklmnpqrsvwxyz]{32}$/;

/** Checks a narinfo's own text: it parses, names a NAR, and describes the store path its key names. */
export function judgeNarinfo(key: string, text: string): NarinfoVerdict {
  if (text.includes('\u0000')) return { problem: 'unparsable_narinfo', detail: 'not text (NUL bytes)' };
  const fields = parseNarinfo(text);
  const missing = ['StorePath', 'URL', 'NarHash', 'NarSize'].filter((name) => (fields.get(name) ?? '') === '');
  if (missing.length > 0) return { problem: 'unparsable_narinfo', detail: `missing ${missing.join(', ')}` };
  const url = fields.get('URL')!;
  const path = narPathOf(url);
  if (path === undefined) return { problem: 'unparsable_narinfo', detail: `URL is not a relative path: ${JSON.stringify(url)}` };
  const nar = posix.normalize(posix.join(posix.dirname(key), path));
  if (nar.startsWith('../') || nar === '..') return { problem: 'unparsable_narinfo', detail: `URL leaves the bucket: ${url}` };
  const storePath = fields.get('StorePath')!;
  const storeHash = posix.basename(storePath).split('-', 1)[0] ?? '';
  if (!STORE_HASH.test(storeHash) || !storePath.startsWith('/')) {
    return { problem: 'unparsable_narinfo', detail: `StorePath is not a store path: ${JSON.stringify(storePath)}` };
  }
  const keyHash = posix.basename(key).slice(0, -'.narinfo'.length);
  if (keyHash !== storeHash) {
    return { problem: 'store_path_mismatch', detail: `StorePath ${storePath} does not have the key's hash ${keyHash}`, nar };
  }
  const facts: NarinfoFacts = { nar };
  const size = fields.get('FileSize');
  if (size !== undefined && size !== '') {
    if (!/^\d+$/.test(size)) return { problem: 'unparsable_narinfo', detail: `FileSize is not a number: ${JSON.stringify(size)}`, nar };
    facts.fileSize = Number(size);
  }
  const hash = fields.get('FileHash');
  if (hash !== undefined && hash.startsWith('sha256:')) {
    const value = hash.slice('sha256:'.length);
    // Nix also writes base-16 in some paths: 64 hex digits are converted by the caller's comparison.
    facts.fileHash = value;
  }
  return { facts };
}

/** Why `nix-cache-info` is unusable, or undefined when Nix would take it (a `StoreDir:` that is an absolute path). */
export function cacheInfoProblem(text: string): string | undefined {
  const storeDir = parseNarinfo(text).get('StoreDir');
  if (storeDir === undefined || storeDir === '') return 'no StoreDir';
  if (!storeDir.startsWith('/')) return `StoreDir is not an absolute path: ${JSON.stringify(storeDir)}`;
  return undefined;
}
