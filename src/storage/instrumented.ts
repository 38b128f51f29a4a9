import type { HeadOptions, ListOptions, LocalFile, PutOptions, Storage } from './types.js';

/** Storage operations as they appear in metrics (`operation` label). */
export type StorageOperation = 'head' | 'put_file' | 'list' | 'ping';

/** What the instrumented storage reports; the metrics module implements it with prom-client. */
export interface StorageMetrics {
  /**
   * One call per finished operation. `failed` is true when the backend failed; an operation
   * cancelled by its caller (shutdown, upload timeout) is reported as not failed, since the
   * storage did nothing wrong.
   */
  observe(operation: StorageOperation, durationMs: number, failed: boolean): void;
}

/**
 * Wraps any backend so every call is timed and its failures counted, without the backends
 * knowing about metrics. A `head` answering "not found" is a success (null), not an error.
 */
export function instrumentStorage(storage: Storage, metrics: StorageMetrics): Storage {
  async function timed<T>(operation: StorageOperation, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await run();
      metrics.observe(operation, performance.now() - started, false);
      return result;
    } catch (error) {
      metrics.observe(operation, performance.now() - started, signal?.aborted !== true);
      throw error;
    }
  }

  // Members not listed here (description, close, and any added later) pass through unchanged.
  return {
    ...storage,
    head: (key: string, options?: HeadOptions) => timed('head', options?.signal, () => storage.head(key, options)),
    putFile: (key: string, file: LocalFile, options: PutOptions) =>
      timed('put_file', options.signal, () => storage.putFile(key, file, options)),
    ...(storage.list === undefined
      ? {}
      : {
          list: (prefix: string, options?: ListOptions) => timed('list', options?.signal, () => storage.list!(prefix, options)),
        }),
    ping: (signal?: AbortSignal) => timed('ping', signal, () => storage.ping(signal)),
  };
}
