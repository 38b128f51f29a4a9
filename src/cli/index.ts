/**
 * `sync4loong daemon|config` — the command line. Parsing uses node:util's parseArgs: the
 * commands are few and flat, and a framework would be the largest dependency of the CLI.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig, redactConfig, toToml } from '../config/index.js';
import { runDaemon } from './daemon.js';

const HELP = `sync4loong — push local folders to S3-compatible storage through a Redis job queue

Usage:
  sync4loong daemon [--config FILE]   run the HTTP API and the upload workers (daemon.role);
                                      the config reloads when its file changes, or on SIGHUP
  sync4loong config [--config FILE]   print the effective configuration (secrets redacted)
  sync4loong --help | --version

The config file may also be named by SYNC4LOONG_CONFIG; every key can be overridden by
SYNC4LOONG_<SECTION>_<KEY> (for example SYNC4LOONG_REDIS_ADDR, SYNC4LOONG_S3_SECRET_KEY).
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
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
  const command = positionals[0];
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  try {
    switch (command) {
      case 'daemon':
        return await runDaemon(values.config);
      case 'config': {
        const { config } = loadConfig({ file: values.config });
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
