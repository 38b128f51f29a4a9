/**
 * One run of the post-sync command, as its BullMQ job: take the uploads not yet reported,
 * run the command with them, record the run, and commit the uploads on success (a failed
 * run leaves them to the retry or the next run).
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../log/index.js';
import type { ChangeSet } from './changes.js';
import type { HookRun, RunHistory } from './history.js';
import type { HookMetrics, HookOutcome } from './metrics.js';
import { runCommand, type CommandResult } from './run-command.js';
import { createInFlight } from '../queue/close.js';

/** Bytes of stdout and of stderr kept per run. */
export const OUTPUT_TAIL_BYTES = 4096;

export interface PostSyncJobData {
  /** When the job was (re-)armed (informative: `replace` keeps only the last). */
  armed_at: string;
}

export interface PostSyncResult {
  outcome: HookOutcome | 'nothing_to_report';
  uploaded_count: number;
  exit_code?: number | null;
  duration_ms?: number;
}

/** How the next run runs: read at its start, so a config reload applies to the next run. */
export interface RunSettings {
  argv: string[];
  timeoutMs: number;
  killGraceMs: number;
}

export interface JobRunner {
  process(job: Job<PostSyncJobData, PostSyncResult>): Promise<PostSyncResult>;
  /** Stops every running command (its process group); their runs fail and are retried. */
  abortAll(): void;
  /** Commands running now. */
  count(): number;
  /** Resolves once no command runs. */
  idle(): Promise<void>;
}

export function createJobRunner(
  deps: { changes: ChangeSet; history: RunHistory; metrics: HookMetrics; log: Logger },
  current: () => RunSettings,
): JobRunner {
  const { changes, history, metrics, log } = deps;
  /** Running commands, so shutdown can stop them. */
  const running = new Set<AbortController>();
  const commands = createInFlight();

  async function processJob(job: Job<PostSyncJobData, PostSyncResult>): Promise<PostSyncResult> {
    const batch = await changes.take();
    if (batch.count === 0) {
      log.debug({ job_id: job.id }, 'post-sync command skipped: nothing uploaded since the last run');
      return { outcome: 'nothing_to_report', uploaded_count: 0 };
    }
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const run = current();
    const startedAt = new Date();
    const controller = new AbortController();
    running.add(controller);
    let result: CommandResult;
    try {
      result = await commands.track(() =>
        runCommand(run.argv, {
          env: commandEnv(batch.count, batch.keys.length),
          stdin: batch.keys.length > 0 ? `${batch.keys.join('\n')}\n` : '',
          timeoutMs: run.timeoutMs,
          killGraceMs: run.killGraceMs,
          tailBytes: OUTPUT_TAIL_BYTES,
          signal: controller.signal,
        }),
      );
    } finally {
      running.delete(controller);
    }
    if (result.aborted) {
      // Shutdown (or the command switched off): the failed attempt is retried later with the same changes (they stay in flight).
      log.warn({ job_id: job.id, duration_ms: result.durationMs }, 'post-sync command stopped by shutdown');
      throw new Error('post-sync command stopped by daemon shutdown');
    }

    const outcome: HookOutcome = result.timedOut ? 'timeout' : result.exitCode === 0 && !result.spawnError ? 'success' : 'failure';
    // A program that cannot be started will not start on a retry either.
    const permanent = result.spawnError !== undefined;
    const willRetry = outcome !== 'success' && !permanent && attempt < attempts;
    const record: HookRun = {
      job_id: String(job.id),
      attempt,
      started_at: startedAt.toISOString(),
      finished_at: new Date().toISOString(),
      duration_ms: result.durationMs,
      outcome,
      exit_code: result.exitCode,
      signal: result.signal,
      ...(result.spawnError ? { error: result.spawnError.message } : {}),
      uploaded_count: batch.count,
      keys_sent: batch.keys.length,
      will_retry: willRetry,
      stdout_tail: result.stdoutTail,
      stderr_tail: result.stderrTail,
    };
    metrics.run(outcome);
    await history.add(record).catch((error: unknown) => log.warn({ err: error }, 'post-sync run history not saved'));
    const fields = {
      job_id: record.job_id,
      attempt,
      outcome,
      exit_code: record.exit_code,
      signal: record.signal,
      duration_ms: record.duration_ms,
      uploaded_count: record.uploaded_count,
      will_retry: willRetry,
      ...(record.error ? { err: record.error } : {}),
      stdout_tail: record.stdout_tail,
      stderr_tail: record.stderr_tail,
    };
    if (outcome === 'success') {
      log.info(fields, 'post-sync command succeeded');
      await changes.commit();
      return { outcome, uploaded_count: batch.count, exit_code: result.exitCode, duration_ms: result.durationMs };
    }
    log[willRetry ? 'warn' : 'error'](fields, 'post-sync command failed');
    const reason = describeFailure(result, run.timeoutMs);
    throw permanent ? new UnrecoverableError(reason) : new Error(reason);
  }

  return {
    process: processJob,
    abortAll() {
      for (const controller of running) controller.abort();
    },
    count: () => commands.count(),
    idle: () => commands.idle(),
  };
}

/** The daemon's environment without its own `SYNC4LOONG_*` settings (they may hold secrets), plus what changed. */
function commandEnv(uploadedCount: number, keysSent: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('SYNC4LOONG_')) env[name] = value;
  }
  env.SYNC4LOONG_UPLOADED_COUNT = String(uploadedCount);
  env.SYNC4LOONG_KEYS_SENT = String(keysSent);
  return env;
}

function describeFailure(result: CommandResult, timeoutMs: number): string {
  if (result.spawnError) return `post-sync command could not start: ${result.spawnError.message}`;
  if (result.timedOut) return `post-sync command timed out after ${Math.round(timeoutMs / 1000)} s`;
  if (result.signal) return `post-sync command killed by ${result.signal}`;
  return `post-sync command exited with status ${result.exitCode}`;
}
