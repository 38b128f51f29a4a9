/**
 * One listing of a published folder's destination prefix, run page by page while the
 * folder is walked. It lets the publisher leave out files the bucket already holds, and
 * spares the workers a HEAD for files it proves absent: on this machine a no-op
 * re-publish of 2,000 files went from one HEAD per file to two list requests (figures in
 * bench/RESULTS.md).
 *
 * Bounded, so a small publish into a large bucket stays cheap: it lists at most
 * `keysPerFile` keys per file the walk found (never less than one page), then stops.
 * Only a complete listing proves a key absent; a partial one still proves presence. No
 * assumption is made about the order a server lists keys in.
 */
import type { Logger } from '../log/index.js';
import type { ListOptions, ListPage } from '../storage/index.js';

export type ListPageFn = (prefix: string, options: ListOptions) => Promise<ListPage>;

export interface ListingOptions {
  /** Keys listed at most per file found by the walk. */
  keysPerFile?: number;
  /** Keys listed at least (one page on S3). */
  minKeys?: number;
}

export interface PrefixListing {
  /** Whether the listing has stopped: complete, over its budget, failed or cancelled. */
  readonly settled: boolean;
  /** The walk found one more file (raises the budget). */
  found(): void;
  /** The walk is over: the listing stops once it is complete or its budget is spent. */
  finish(): void;
  /** Resolves once settled (never rejects: a failed listing just knows less). */
  whenSettled(): Promise<void>;
  /** Size of `key` in the bucket; null when the complete listing lacks it; undefined when unknown. */
  sizeOf(key: string): number | null | undefined;
  /** Stops listing (the publish is over or failed). */
  cancel(): void;
}

export function startPrefixListing(deps: { list: ListPageFn; log: Logger }, prefix: string, options: ListingOptions = {}): PrefixListing {
  const keysPerFile = options.keysPerFile ?? 2;
  const minKeys = options.minKeys ?? 1000;
  const sizes = new Map<string, number>();
  const abort = new AbortController();
  let filesFound = 0;
  let walkDone = false;
  let complete = false;
  let settled = false;
  let listed = 0;
  let budgetRaised: (() => void) | undefined;

  const budget = () => Math.max(minKeys, keysPerFile * filesFound);
  const raiseBudget = () => {
    const wake = budgetRaised;
    budgetRaised = undefined;
    wake?.();
  };

  async function run(): Promise<void> {
    let continuation: string | undefined;
    try {
      for (;;) {
        while (listed >= budget()) {
          if (walkDone || abort.signal.aborted) return;
          await new Promise<void>((resolve) => (budgetRaised = resolve));
        }
        const page = await deps.list(prefix, { continuation, signal: abort.signal });
        for (const object of page.objects) sizes.set(object.key, object.size);
        listed += page.objects.length;
        if (page.continuation === undefined) {
          complete = true;
          return;
        }
        continuation = page.continuation;
      }
    } catch (error) {
      if (!abort.signal.aborted) deps.log.warn({ err: error, prefix }, 'listing the bucket failed: the workers will ask per file');
    } finally {
      settled = true;
      if (!complete && !abort.signal.aborted && listed >= budget()) {
        deps.log.debug({ prefix, listed }, 'bucket listing stopped at its budget: the workers will ask for the rest');
      }
    }
  }

  const done = run();

  return {
    get settled() {
      return settled;
    },
    found() {
      filesFound += 1;
      if (budgetRaised !== undefined && listed < budget()) raiseBudget();
    },
    finish() {
      walkDone = true;
      raiseBudget();
    },
    whenSettled: () => done,
    sizeOf(key) {
      const size = sizes.get(key);
      if (size !== undefined) return size;
      return complete ? null : undefined;
    },
    cancel() {
      abort.abort();
      raiseBudget();
    },
  };
}
