import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CliError, call, errorOf, resolveDaemon } from './client.js';
import { followBatchEvents } from './events.js';
import { createProgressReporter, summaryLines } from './progress.js';

export const PUBLISH_USAGE = 'sync4loong publish FROM TO [--delete-after-sync] [--overwrite] [--wait] [--json] [--url URL] [--token TOKEN]';

/**
 * `sync4loong publish FROM TO`: asks a running daemon to upload FROM (a folder or a file;
 * relative paths are taken from here) to the key or prefix TO. With `--wait`, follows the
 * batch to its end. Exit code 1 when the request or any file failed.
 */
export async function runPublish(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'delete-after-sync': { type: 'boolean' },
      overwrite: { type: 'boolean' },
      wait: { type: 'boolean', short: 'w' },
      json: { type: 'boolean' },
      url: { type: 'string' },
      token: { type: 'string' },
      config: { type: 'string', short: 'c' },
    },
  });
  if (positionals.length !== 2) throw new CliError(`publish needs FROM and TO\n\nUsage: ${PUBLISH_USAGE}`, 2);
  const [from, to] = positionals as [string, string];
  const daemon = resolveDaemon(values);
  const item = {
    from: resolve(from),
    to,
    ...(values['delete-after-sync'] ? { delete_after_sync: true } : {}),
    ...(values.overwrite ? { overwrite: true } : {}),
  };
  const reply = await call(daemon, 'POST', '/publish', [item]);
  if (reply.status !== 200 || typeof reply.body?.batch_id !== 'string') throw new CliError(`publish failed: ${errorOf(reply)}`);

  const out = process.stdout;
  if (values.json && !values.wait) {
    out.write(`${JSON.stringify(reply.body, null, 2)}\n`);
    return 0;
  }
  if (!values.json) {
    const present = Number(reply.body.present_files ?? 0);
    const queued = reply.body.total_files - present;
    out.write(`batch ${reply.body.batch_id}: ${queued} files queued${present > 0 ? `, ${present} already in the bucket` : ''}\n`);
    if (reply.body.skipped_count > 0) {
      out.write(`${reply.body.skipped_count} entries not published:\n`);
      for (const entry of reply.body.skipped ?? []) out.write(`  ${entry.path}: ${entry.reason}\n`);
    }
  }
  if (!values.wait) return 0;

  const reporter = createProgressReporter(process.stderr);
  let result;
  try {
    result = await followBatchEvents(daemon, reply.body.batch_id, (progress) => reporter.update(progress));
  } finally {
    reporter.finish();
  }
  if (values.json) out.write(`${JSON.stringify(result, null, 2)}\n`);
  else for (const line of summaryLines(result)) out.write(`${line}\n`);
  return result.failed_files.length > 0 ? 1 : 0;
}
