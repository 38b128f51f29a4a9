import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';

/**
 * Starts watching `file` (call it before the writes); resolves once the file has been quiet
 * for `quietMs` after its last change. With `quietMs` above a config watch's debounce, this
 * comes after any reload those changes could start: the marker for "no reload came".
 */
export function quietAfterChanges(file: string, quietMs: number): Promise<void> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const watcher = watch(dirname(file), (_event, name) => {
      if (name?.toString() !== basename(file)) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        watcher.close();
        resolve();
      }, quietMs);
    });
  });
}
