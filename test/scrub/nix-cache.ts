/**
 * A binary cache made by the real Nix client (Debian's `nix-bin`, no daemon, no root
 * store): `nix-store --store DIR --add` then `nix copy --to file://...`, and the client's
 * substitution from an HTTP cache, to prove what scrub leaves behind is usable.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Nix without cache.nixos.org (no network here) and with the new CLI. */
export const NIX_ENV = {
  ...process.env,
  NIX_CONFIG: 'experimental-features = nix-command\nsubstituters =\nconnect-timeout = 5\nfallback = false',
};

export async function hasNix(): Promise<boolean> {
  try {
    await run('nix', ['--version'], { env: NIX_ENV });
    return true;
  } catch {
    return false;
  }
}

export interface CachedPath {
  storePath: string;
  /** The 32-character hash of the store path. */
  hash: string;
  /** Relative to the cache folder. */
  narinfo: string;
  nar: string;
  fileSize: number;
}

/** Adds `count` files of random content to a private store and copies them to `cache` (a folder). */
export async function makeNixCache(work: string, count: number, bytes = 4096): Promise<CachedPath[]> {
  const store = join(work, 'store');
  const cache = join(work, 'cache');
  const storePaths: string[] = [];
  for (let index = 0; index < count; index += 1) {
    const file = join(work, `file-${index}.bin`);
    await writeFile(file, randomBytes(bytes));
    const { stdout } = await run('nix-store', ['--store', store, '--add', file], { env: NIX_ENV });
    storePaths.push(stdout.trim());
  }
  await run('nix', ['copy', '--store', store, '--to', `file://${cache}`, ...storePaths], { env: NIX_ENV });
  const paths: CachedPath[] = [];
  for (const storePath of storePaths) {
    const hash = storePath.slice('/nix/store/'.length, '/nix/store/'.length + 32);
    const text = await readFile(join(cache, `${hash}.narinfo`), 'utf8');
    const url = /^URL: (.*)$/m.exec(text)![1]!;
    const fileSize = Number(/^FileSize: (\d+)$/m.exec(text)![1]);
    paths.push({ storePath, hash, narinfo: `${hash}.narinfo`, nar: url, fileSize });
  }
  const files = await readdir(cache);
  if (!files.includes('nix-cache-info')) throw new Error('nix copy wrote no nix-cache-info');
  return paths;
}

/** Substitutes `storePath` from the HTTP cache at `url` into a fresh store; the client's exit code and stderr. */
export async function substitute(url: string, storeDir: string, storePath: string): Promise<{ ok: boolean; stderr: string }> {
  try {
    const { stderr } = await run('nix', ['copy', '--no-check-sigs', '--from', url, '--store', storeDir, storePath], { env: NIX_ENV });
    return { ok: true, stderr };
  } catch (error) {
    return { ok: false, stderr: String((error as { stderr?: string }).stderr ?? error) };
  }
}
