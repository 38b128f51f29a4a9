import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from '../log/index.js';

export interface FileWatch {
  close(): void;
}

/**
 * Calls `onChange` once the given files have been quiet for `debounceMs` after a change.
 * Watches each file's folder, not the file: editors and config tools save by writing a
 * new file and renaming it over the old one, which a watch on the old inode would miss
 * (and never see again). Changes to `..`-prefixed entries count too: that is how
 * Kubernetes swaps mounted ConfigMaps and Secrets (a symlink to a new folder).
 */
export function watchFiles(
  deps: { log: Logger },
  files: readonly string[],
  onChange: () => void,
  options: { debounceMs: number },
): FileWatch {
  const byFolder = new Map<string, Set<string>>();
  for (const file of files) {
    const path = resolve(file);
    const names = byFolder.get(dirname(path)) ?? new Set<string>();
    names.add(basename(path));
    byFolder.set(dirname(path), names);
  }
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const changed = () => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(onChange, options.debounceMs);
  };
  const watchers: FSWatcher[] = [];
  for (const [folder, names] of byFolder) {
    try {
      const watcher = watch(folder, { persistent: false }, (_event, name) => {
        const entry = name?.toString();
        if (entry === undefined || names.has(entry) || entry.startsWith('..')) changed();
      });
      watcher.on('error', (error) => deps.log.warn({ folder, err: error }, 'config watch stopped: reload with SIGHUP'));
      watchers.push(watcher);
    } catch (error) {
      deps.log.warn({ folder, err: error }, 'cannot watch config folder: reload with SIGHUP');
    }
  }
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
