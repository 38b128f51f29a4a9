/**
 * `sync4loong daemon|config|publish|check` — the command line. Parsing uses node:util's
 * parseArgs: the commands are few and flat, and a framework would be the largest
 * dependency of the CLI. `publish` and `check` parse their own options.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { ConfigError, configFileFor, loadConfig, redactConfig, toToml } from '../config/index.js';
import { CliError } from './client.js';
import { runDaemon } from './daemon.js';
import { runCheck } from './check.js';
import { runPublish } from './publish.js';
import { runScrub } from './scrub.js';

const HELP = `sync4loong — push local folders to S3-compatible storage through a Redis job queue

Usage:
  sync4loong daemon [--config FILE]   run the HTTP API and the upload workers (daemon.role);
                                      the config reloads when its file changes, or on SIGHUP
  sync4loong --config FILE            the same, as the Go daemon was started (-config FILE,
                                      -config=FILE, --config=FILE work too)
  sync4loong config [--config FILE]   print the effective configuration (secrets redacted)
  sync4loong publish FROM TO [--delete-after-sync] [--overwrite] [--wait] [--json]
                                      ask a running daemon to upload FROM (a folder or a
                                      file) to the key or prefix TO; --wait follows the
                                      batch to its end with a progress display
  sync4loong check KEY... [--json]    ask a running daemon whether keys are in the bucket
  sync4loong scrub [--prefix P] [--hashes] [--repair [--from DIR]] [--delete-orphans] [--json]
                                      ask a running daemon to audit the published cache
                                      (missing or truncated NARs, bad narinfos, orphans),
                                      and with --repair to fix it; follows it to its end
  sync4loong --help | --version

Client options (publish, check, scrub):
  --url URL       the daemon (default: SYNC4LOONG_URL, else http.addr of the config)
  --token TOKEN   bearer token (default: SYNC4LOONG_TOKEN, else the config's first
                  http.auth_tokens entry)
  --config FILE   config file to read those from
publish and check exit with 1 when a file failed, a key is missing, or the request failed;
scrub exits with 1 when it found problems it did not repair, or could not run.

The config file may also be named by SYNC4LOONG_CONFIG; with neither, /etc/sync4loong/config.toml
is read when it exists (and plain \`sync4loong\` then runs the daemon, as the Go daemon did).
Every key can be overridden by SYNC4LOONG_<SECTION>_<KEY> (for example
SYNC4LOONG_REDIS_ADDR, SYNC4LOONG_S3_SECRET_KEY).
`;

const CLIENT_COMMANDS: Record<string, (argv: string[]) => Promise<number>> = { publish: runPublish, check: runCheck, scrub: runScrub };

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * The Go daemon's flags, as Go's flag package takes them (`-config F`, `-config=F`,
 * `-help`), in the form parseArgs takes (`--config F`, `--config=F`, `--help`). Stops at `--`.
 */
export function normaliseGoFlags(argv: readonly string[]): string[] {
  const end = argv.indexOf('--');
  return argv.map((arg, index) => {
    if (end !== -1 && index >= end) return arg;
    if (arg === '-config') return '--config';
    if (arg === '-help') return '--help';
    if (arg.startsWith('-config=')) return `-${arg}`;
    return arg;
  });
}

export async function main(rawArgv: string[]): Promise<number> {
  const argv = normaliseGoFlags(rawArgv);
  const client = CLIENT_COMMANDS[argv[0] ?? ''];
  if (client !== undefined && !argv.includes('--help') && !argv.includes('-h')) return runClient(client, argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  // No command, as the Go daemon was started: run the daemon when there is a config to read.
  const command = positionals[0] ?? (values.help || configFileFor({ file: values.config }) === undefined ? undefined : 'daemon');
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  try {
    switch (command) {
      case 'daemon':
        return await runDaemon(values.config);
      case 'config': {
        const { config, unknownKeys, warnings = [] } = loadConfig({ file: values.config });
        if (unknownKeys.length > 0) process.stderr.write(`warning: unknown config keys ignored: ${unknownKeys.join(', ')}\n`);
        for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
        process.stdout.write(toToml(redactConfig(config)));
        return 0;
      }
      default:
        process.stderr.write(`unknown command: ${command}\n\n${HELP}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
}

async function runClient(command: (argv: string[]) => Promise<number>, argv: string[]): Promise<number> {
  try {
    return await command(argv);
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`${error.message}\n`);
      return error.exitCode;
    }
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
      return 2;
    }
    throw error;
  }
}
