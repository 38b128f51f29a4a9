import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ScrubProgress, ScrubResult, ScrubStatus } from '../scrub/types.js';
import { CliError, call, errorOf, resolveDaemon, type Daemon } from './client.js';

export const SCRUB_USAGE =
  'sync4loong scrub [--prefix P] [--hashes] [--repair [--from DIR]] [--delete-orphans] [--json] [--url URL] [--token TOKEN]';

const POLL_MS = 500;

function progressText(progress: ScrubProgress): string {
  const hashed =
    progress.bytes_hashed > 0 ? `, ${progress.nars_hashed} NARs hashed (${(progress.bytes_hashed / 1048576).toFixed(1)} MiB)` : '';
  return `scrub ${progress.phase}: ${progress.objects_listed} objects listed, ${progress.narinfos_checked} narinfos checked${hashed}`;
}

/** The final lines: what was scrubbed, each problem, each action, the verdict. */
export function scrubSummaryLines(result: ScrubResult): string[] {
  const lines = [
    `scrub ${result.id}: ${result.kind === 'plain' ? 'plain folder (no nix-cache-info, no narinfo: counts and empty objects only)' : 'Nix cache'} "${result.prefix}": ${result.objects} objects, ${result.bytes} bytes, ${result.narinfos} narinfos, ${result.nars} NARs in ${result.duration_seconds.toFixed(1)} s`,
  ];
  if (result.unchecked_sizes > 0) lines.push(`${result.unchecked_sizes} narinfos without FileSize (not size-checked)`);
  if (result.hashes && result.unchecked_hashes > 0)
    lines.push(`${result.unchecked_hashes} narinfos without a sha256 FileHash (not hash-checked)`);
  if (result.recent_orphans > 0) {
    lines.push(
      `${result.recent_orphans} NARs no narinfo names yet (${result.recent_orphan_bytes} bytes), younger than the grace: not flagged`,
    );
  }
  for (const problem of result.problems) {
    lines.push(`${problem.kind}: ${problem.key}: ${problem.detail}${problem.repaired ? ' [repaired]' : ''}`);
  }
  if (result.problems_truncated) lines.push(`(more problems than listed: ${result.problem_count} in all)`);
  for (const action of result.actions)
    lines.push(`action ${action.action}: ${action.key}${action.to !== undefined ? ` -> ${action.to}` : ''}: ${action.detail}`);
  const kinds = Object.entries(result.problems_by_kind)
    .map(([kind, count]) => `${kind}=${count}`)
    .join(' ');
  lines.push(
    result.problem_count === 0
      ? 'healthy: no problem found'
      : `${result.problem_count} problems (${kinds}), ${result.problem_count - result.unrepaired_count} repaired, ${result.unrepaired_count} left${result.orphan_bytes > 0 ? `; orphan NARs hold ${result.orphan_bytes} bytes` : ''}`,
  );
  return lines;
}

async function follow(daemon: Daemon, id: string, onProgress: (progress: ScrubProgress) => void): Promise<ScrubStatus> {
  for (;;) {
    const reply = await call(daemon, 'GET', `/scrubs/${id}`);
    if (reply.status !== 200) throw new CliError(`scrub status failed: ${errorOf(reply)}`);
    const status = reply.body as ScrubStatus;
    if (status.state !== 'running') return status;
    onProgress(status.progress);
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
}

/**
 * `sync4loong scrub`: asks a running daemon to scrub the bucket and follows it to its end.
 * Exit code 0 when healthy or everything found was repaired, 1 when problems are left or
 * the scrub failed.
 */
export async function runScrub(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      prefix: { type: 'string' },
      hashes: { type: 'boolean' },
      repair: { type: 'boolean' },
      from: { type: 'string' },
      'delete-orphans': { type: 'boolean' },
      json: { type: 'boolean' },
      url: { type: 'string' },
      token: { type: 'string' },
      config: { type: 'string', short: 'c' },
    },
  });
  if (positionals.length > 0) throw new CliError(`scrub takes no arguments\n\nUsage: ${SCRUB_USAGE}`, 2);
  if (values.from !== undefined && !values.repair) throw new CliError(`--from needs --repair\n\nUsage: ${SCRUB_USAGE}`, 2);
  const daemon = resolveDaemon(values);
  const body = {
    ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
    ...(values.hashes ? { hashes: true } : {}),
    ...(values.repair ? { repair: true } : {}),
    ...(values.from !== undefined ? { from: resolve(values.from) } : {}),
    ...(values['delete-orphans'] ? { delete_orphans: true } : {}),
  };
  const reply = await call(daemon, 'POST', '/scrub', body);
  if (reply.status !== 202 || typeof reply.body?.scrub_id !== 'string') throw new CliError(`scrub failed: ${errorOf(reply)}`);
  const id = reply.body.scrub_id as string;
  const err = process.stderr;
  const tty = err.isTTY === true;
  if (!values.json) process.stdout.write(`scrub ${id} started\n`);
  let drawn = false;
  let status: ScrubStatus;
  try {
    status = await follow(daemon, id, (progress) => {
      if (!tty) return;
      const line = progressText(progress);
      err.write(`\r${line.slice(0, err.columns > 0 ? err.columns - 1 : line.length)}\u001b[K`);
      drawn = true;
    });
  } finally {
    if (drawn) err.write('\n');
  }
  if (status.state !== 'done' || status.result === undefined) {
    if (values.json) process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
    throw new CliError(`scrub ${id} ${status.state}${status.error !== undefined ? `: ${status.error}` : ''}`);
  }
  if (values.json) process.stdout.write(`${JSON.stringify(status.result, null, 2)}\n`);
  else for (const line of scrubSummaryLines(status.result)) process.stdout.write(`${line}\n`);
  return status.result.unrepaired_count > 0 ? 1 : 0;
}
