import { realpathSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';

/** Which real paths `/publish` may read (`[publish] allowed_roots`). */
export interface RootPolicy {
  /** Whether any root is configured; none means every readable path (the seed). */
  readonly restricted: boolean;
  /** The roots, resolved to real paths. */
  readonly roots: readonly string[];
  allows(realPath: string): boolean;
}

function resolveRoot(root: string): string {
  try {
    return realpathSync(root);
  } catch {
    return root; // a root that does not exist (yet) still restricts by its own path
  }
}

export function isInsideOrEqual(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

export function createRootPolicy(roots: readonly string[]): RootPolicy {
  const resolved = roots.map(resolveRoot);
  return {
    restricted: resolved.length > 0,
    roots: resolved,
    allows(realPath) {
      return resolved.length === 0 || resolved.some((root) => isInsideOrEqual(root, realPath));
    },
  };
}
