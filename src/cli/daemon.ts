import { createApp } from '../app.js';
import { createLiveConfig, loadConfig, secretValues, type LiveConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';

/** After shutdown, how long the process may take to exit by itself before it is ended. */
const EXIT_GRACE_MS = 2000;

/**
 * Loads and validates the config (exiting before touching Redis or S3 when it is bad),
 * starts the daemon, reloads the config when its file changes or on SIGHUP, and stops
 * gracefully on SIGINT/SIGTERM. A second signal exits at once; running jobs are then
 * picked up again after restart.
 */
export async function runDaemon(configFile: string | undefined): Promise<number> {
  const load = () => loadConfig({ file: configFile });
  const loaded = load();
  const { config } = loaded;
  // Secrets are asked for per line: a reload may add tokens that must be scrubbed as well.
  let live: LiveConfig | undefined;
  let known = { config, secrets: secretValues(config) };
  const secrets = () => {
    const current = live?.current() ?? config;
    if (current !== known.config) known = { config: current, secrets: secretValues(current) };
    return known.secrets;
  };
  const log = createLogger({ level: config.daemon.log_level, secrets });
  if (loaded.unknownKeys.length > 0) log.warn({ keys: loaded.unknownKeys.join(',') }, 'unknown config keys ignored');
  for (const warning of loaded.warnings ?? []) log.warn({ warning }, 'config warning');
  if (loaded.file !== undefined) log.info({ file: loaded.file }, 'config loaded');
  live = createLiveConfig({ log, load }, { initial: loaded });
  let stopping = false;
  // Stays installed until exit: without a listener, SIGHUP would kill the process.
  process.on('SIGHUP', () => {
    if (!stopping) void live.reload('SIGHUP');
  });

  const app = createApp(config, { log, live });
  const stopped = new Promise<number>((resolve) => {
    // Everything is closed: an upload abandoned at shutdown may still hold a socket open,
    // which must not keep the process alive.
    const exitSoon = (code: number) => {
      setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
      resolve(code);
    };
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      live.close();
      app.close().then(
        () => exitSoon(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          exitSoon(1);
        },
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  try {
    await app.start();
  } catch (error) {
    log.fatal({ err: error }, 'daemon failed to start');
    live.close();
    await app.close().catch(() => undefined);
    return 1;
  }
  return stopped;
}
