import { parseArgs } from 'node:util';
import { CliError, call, errorOf, resolveDaemon } from './client.js';

export const CHECK_USAGE = 'sync4loong check KEY... [--json] [--url URL] [--token TOKEN]';

/** A key as a `/check/{key}` path: each segment escaped, the slashes kept. */
export function checkPath(key: string): string {
  return `/check/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/**
 * `sync4loong check KEY...`: asks a running daemon whether each key is in the bucket, one
 * line per key. Exit code 1 when any key is missing or could not be checked.
 */
export async function runCheck(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      url: { type: 'string' },
      token: { type: 'string' },
      config: { type: 'string', short: 'c' },
    },
  });
  if (positionals.length === 0) throw new CliError(`check needs at least one KEY\n\nUsage: ${CHECK_USAGE}`, 2);
  const daemon = resolveDaemon(values);
  let allPresent = true;
  const answers: unknown[] = [];
  for (const key of positionals) {
    const reply = await call(daemon, 'GET', checkPath(key));
    if (reply.status === 200 && typeof reply.body?.exists === 'boolean') {
      answers.push(reply.body);
      if (!reply.body.exists) allPresent = false;
      if (!values.json) {
        const size = typeof reply.body.size === 'number' ? ` (${reply.body.size} bytes${reply.body.cached ? ', cached' : ''})` : '';
        process.stdout.write(`${key}: ${reply.body.exists ? `exists${size}` : 'missing'}\n`);
      }
    } else {
      allPresent = false;
      answers.push({ s3_key: key, target_path: key, error: errorOf(reply) });
      if (!values.json) process.stdout.write(`${key}: error ${errorOf(reply)}\n`);
    }
  }
  if (values.json) process.stdout.write(`${JSON.stringify(answers, null, 2)}\n`);
  return allPresent ? 0 : 1;
}
