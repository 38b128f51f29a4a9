/**
 * The walk's metadata reads (a `stat` per file, the head of each narinfo), done with
 * synchronous calls while the disk answers fast, and with the usual async calls once it
 * does not.
 *
 * Why: an async fs call is handed to libuv's thread pool and its answer back to the event
 * loop; measured here (Node 20, 2 cores, files in the page cache) that costs ~25 µs of CPU
 * per `stat` and ~65-90 µs per small-file read (open, fstat, read, close), against ~6 µs
 * and ~10 µs for the synchronous calls. A 100,000-file publish makes ~350,000 such calls,
 * which was most of the daemon's CPU for it. A synchronous call blocks the event loop for
 * its duration, so: `SLOW_STREAK` calls in a row slower than `SLOW_CALL_MS` (a cold disk,
 * a network file system; one slow call alone is more often the process being descheduled
 * or a GC pause) switch to async calls for `ASYNC_FOR_MS`, and a run of fast calls gives
 * the event loop a turn every `SLICE_MS`.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';

const SLOW_CALL_MS = 2;
const SLOW_STREAK = 3;
const ASYNC_FOR_MS = 10_000;
const SLICE_MS = 10;

let asyncUntil = 0;
let slowInARow = 0;
let sliceStarted = performance.now();

/** Runs `call` synchronously when the disk has been fast, timing it; undefined: use the async path. */
async function quickly<T>(call: () => T): Promise<{ value: T } | undefined> {
  const now = performance.now();
  if (now < asyncUntil) return undefined;
  if (now - sliceStarted > SLICE_MS) {
    await nextTurn();
    sliceStarted = performance.now();
  }
  const started = performance.now();
  try {
    return { value: call() };
  } finally {
    const finished = performance.now();
    slowInARow = finished - started > SLOW_CALL_MS ? slowInARow + 1 : 0;
    if (slowInARow >= SLOW_STREAK) {
      asyncUntil = finished + ASYNC_FOR_MS;
      slowInARow = 0;
    }
  }
}

/** `stat` (follows symlinks); undefined when the path cannot be stat'ed. */
export async function statOrUndefined(path: string): Promise<Stats | undefined> {
  const result = await statOrError(path);
  return result instanceof Error ? undefined : result;
}

/** `stat` (follows symlinks), or the error that refused it (ENOENT, EACCES, ENAMETOOLONG...). */
export async function statOrError(path: string): Promise<Stats | NodeJS.ErrnoException> {
  try {
    const quick = await quickly(() => statSync(path));
    if (quick !== undefined) return quick.value;
  } catch (error) {
    return error as NodeJS.ErrnoException;
  }
  return stat(path).catch((error: NodeJS.ErrnoException) => error);
}

/** Reused by synchronous reads only (one at a time, never across an await). */
let scratch = Buffer.alloc(0);

/**
 * The first `limit` bytes of a file as UTF-8, and whether the file holds more; undefined
 * when synchronous reads are off (the caller then reads asynchronously). Throws on errors.
 */
export async function readHeadQuickly(path: string, limit: number): Promise<{ text: string; truncated: boolean } | undefined> {
  const quick = await quickly(() => {
    if (scratch.length < limit + 1) scratch = Buffer.allocUnsafe(limit + 1);
    // Never blocks: a FIFO swapped in for the file would hold the event loop itself.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) throw new Error(`not a regular file: ${path}`);
      // One byte past the limit tells whether the file is longer.
      let length = 0;
      while (length < limit + 1) {
        const bytesRead = readSync(fd, scratch, length, limit + 1 - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
      }
      return { text: scratch.toString('utf8', 0, Math.min(length, limit)), truncated: length > limit };
    } finally {
      closeSync(fd);
    }
  });
  return quick?.value;
}
