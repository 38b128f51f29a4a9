import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunCommandOptions {
  /** Environment of the command (complete: nothing else is inherited). */
  env: NodeJS.ProcessEnv;
  /** Written to the command's stdin, which is then closed. */
  stdin: string;
  /** After this long the whole process group gets SIGTERM, then SIGKILL after `killGraceMs`. */
  timeoutMs: number;
  killGraceMs: number;
  /** Bytes of stdout and of stderr kept (the last ones). */
  tailBytes: number;
  /** Aborting stops the command like a timeout does (daemon shutdown). */
  signal?: AbortSignal;
}

export interface CommandResult {
  /** Exit status, or null when ended by a signal or never started. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  aborted: boolean;
  /** Set when the program could not be started (`ENOENT`, `EACCES`). */
  spawnError?: NodeJS.ErrnoException;
  durationMs: number;
  stdoutTail: string;
  stderrTail: string;
}

/** How long to keep reading output after the command exited (a background child may hold the pipe). */
const DRAIN_AFTER_EXIT_MS = 1000;
const GROUP_POLL_MS = 50;

/**
 * Runs `argv` without a shell, in a process group of its own (`detached`), so a timeout
 * can end the command together with every child and grandchild it started. Never
 * rejects: every way of ending is described by the result.
 */
export function runCommand(argv: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  const started = performance.now();
  const [program, ...args] = argv;
  const child = spawn(program!, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'], env: options.env });
  const stdout = createTail(options.tailBytes);
  const stderr = createTail(options.tailBytes);
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  // A command that exits without reading stdin closes the pipe early: EPIPE is expected.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.stdin);

  return new Promise<CommandResult>((resolve) => {
    let timedOut = false;
    let aborted = false;
    let stopping: Promise<void> | undefined;

    const stop = () => {
      if (child.pid !== undefined) stopping ??= terminateGroup(child.pid, options.killGraceMs);
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, options.timeoutMs);
    const onAbort = () => {
      aborted = true;
      stop();
    };
    if (options.signal?.aborted) onAbort();
    else options.signal?.addEventListener('abort', onAbort, { once: true });

    let finished = false;
    const finish = async (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: NodeJS.ErrnoException) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // The group is gone (or left to its own devices) before the run counts as over.
      await stopping;
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({
        exitCode,
        signal,
        timedOut,
        aborted,
        ...(spawnError ? { spawnError } : {}),
        durationMs: Math.round(performance.now() - started),
        stdoutTail: stdout.text(),
        stderrTail: stderr.text(),
      });
    };

    child.once('error', (error: NodeJS.ErrnoException) => {
      // Only a failed spawn ends the run here; a failed kill is not the command's end.
      if (child.pid === undefined) void finish(null, null, error);
    });
    child.once('exit', (code, signal) => {
      const closed = new Promise<void>((done) => child.once('close', () => done()));
      void Promise.race([closed, sleep(DRAIN_AFTER_EXIT_MS)]).then(() => finish(code, signal));
    });
  });
}

/** SIGTERM to the group, then SIGKILL once `graceMs` has passed with anything still in it. */
export async function terminateGroup(pid: number, graceMs: number): Promise<void> {
  if (!signalGroup(pid, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await sleep(GROUP_POLL_MS);
    if (!signalGroup(pid, 0)) return;
  }
  signalGroup(pid, 'SIGKILL');
}

/** Signals every process of group `pid`; false when the group is empty (or out of reach). */
function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    // ESRCH: nothing left in the group; EPERM: nothing we may signal. Either way, done.
    return false;
  }
}

/** Keeps the last `limit` bytes of a stream, without holding more than twice that. */
function createTail(limit: number) {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push(chunk: Buffer) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > 2 * limit) {
        const kept = Buffer.concat(chunks).subarray(-limit);
        chunks = [kept];
        size = kept.length;
      }
    },
    text(): string {
      const bytes = Buffer.concat(chunks);
      let start = Math.max(0, bytes.length - limit);
      // Do not start in the middle of a UTF-8 character (continuation bytes are 10xxxxxx).
      while (start < bytes.length && start > 0 && (bytes[start]! & 0xc0) === 0x80) start += 1;
      return bytes.subarray(start).toString('utf8');
    },
  };
}
