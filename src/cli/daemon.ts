import { createApp } from '../app.js';
import { loadConfig, secretValues } from '../config/index.js';
import { createLogger } from '../log/index.js';

/**
 * Loads and validates the config (exiting before touching Redis or S3 when it is bad),
 * starts the daemon, and stops it gracefully on SIGINT/SIGTERM. A second signal exits at
 * once; running jobs are then picked up again after restart.
 */
export async function runDaemon(configFile: string | undefined): Promise<number> {
  const loaded = loadConfig({ file: configFile });
  const { config } = loaded;
  const log = createLogger({ level: config.daemon.log_level, secrets: secretValues(config) });
  if (loaded.unknownKeys.length > 0) log.warn({ keys: loaded.unknownKeys.join(',') }, 'unknown config keys ignored');
  if (loaded.file !== undefined) log.info({ file: loaded.file }, 'config loaded');

  const app = createApp(config, { log });
  let stopping = false;
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      stopping = true;
      log.info({ signal }, 'shutting down');
      app.close().then(
        () => resolve(0),
        (error: unknown) => {
          log.error({ err: error }, 'shutdown failed');
          resolve(1);
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
    await app.close().catch(() => undefined);
    return 1;
  }
  return stopped;
}
