/**
 * The running configuration, reloadable while the daemon runs. A reload loads and
 * validates exactly as start-up does (defaults, file, environment); an invalid result is
 * refused whole, keys that need a restart keep their running value (and are named in a
 * warning), and subscribers are told which live keys changed.
 */
import type { Logger } from '../log/index.js';
import { ConfigError, type LoadedConfig } from './load.js';
import { changedKeys, configHash, keepRunningValues, needsRestart } from './reload.js';
import { secretFileKeys, type Config } from './schema.js';
import { watchFiles, type FileWatch } from './watch.js';

/** Told after a reload changed live keys; may be async (reloads wait for it, in order). */
export type ConfigListener = (next: Config, previous: Config, changedKeys: readonly string[]) => void | Promise<void>;

/** What `/readyz` and `/stats` show about the configuration. */
export interface ConfigStatus {
  /** The config file, or null when running from defaults and environment only. */
  file: string | null;
  /** When the running config was loaded (start-up or the last accepted reload). */
  loaded_at: string;
  /** `configHash` of the running config (secrets left out). */
  hash: string;
  /** Accepted reloads since start. */
  reloads: number;
  /** Keys whose new value waits for a restart (their running value is kept). */
  restart_pending: string[];
  /** The last reload, if it was refused (cleared by the next accepted one). */
  last_reload_error: { time: string; reason: string; problems: string[] } | null;
}

export interface ReloadResult {
  outcome: 'applied' | 'unchanged' | 'rejected';
  /** Live keys that took a new value. */
  changed: string[];
  /** Keys that changed in the file but need a restart. */
  restartPending: string[];
  problems: string[];
}

export interface LiveConfig {
  current(): Config;
  status(): ConfigStatus;
  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: ConfigListener): () => void;
  /** A getter of a value derived from the config, computed again only after a change. */
  select<T>(derive: (config: Config) => T): () => T;
  /** Loads again now; `reason` goes to the log (`SIGHUP`, `file changed`). Never throws. */
  reload(reason: string): Promise<ReloadResult>;
  /** Stops watching files. Idempotent. */
  close(): void;
}

export interface LiveConfigOptions {
  /** The config the daemon starts with (defaults to a first `load()`, which may throw). */
  initial?: LoadedConfig;
  /** Quiet time after a file change before reloading (default 300 ms). */
  debounceMs?: number;
}

export function createLiveConfig(deps: { log: Logger; load: () => LoadedConfig }, options: LiveConfigOptions = {}): LiveConfig {
  const { log } = deps;
  const initial = options.initial ?? deps.load();
  const file = initial.file ?? null;
  let running = initial.config;
  let loadedAt = new Date();
  let hash = configHash(running);
  let reloads = 0;
  let restartPending: string[] = [];
  let lastError: ConfigStatus['last_reload_error'] = null;
  const listeners = new Set<ConfigListener>();
  let queue: Promise<unknown> = Promise.resolve();
  let watcher: { files: string; watch: FileWatch } | undefined;
  let closed = false;

  /** The files a reload reads: the config file and the secret files it names. */
  function watchedFiles(config: Config): string[] {
    if (file === null) return [];
    const sections = config as unknown as Record<string, Record<string, unknown>>;
    const fromSecretKeys = secretFileKeys.map(([section, key]) => sections[section]?.[key]);
    const named = [config.http.auth_token_file, ...fromSecretKeys].filter((path): path is string => typeof path === 'string');
    return [file, ...named.filter((path) => path !== '')];
  }

  function updateWatch(): void {
    const files = closed || !running.daemon.watch_config ? [] : watchedFiles(running);
    const key = files.join('\n');
    if (watcher?.files === key) return;
    watcher?.watch.close();
    watcher = undefined;
    if (files.length === 0) return;
    const debounceMs = options.debounceMs ?? 300;
    watcher = { files: key, watch: watchFiles({ log }, files, () => void live.reload('file changed'), { debounceMs }) };
  }

  async function reloadNow(reason: string): Promise<ReloadResult> {
    let loaded: LoadedConfig;
    try {
      loaded = deps.load();
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message];
      lastError = { time: new Date().toISOString(), reason, problems };
      // One line per problem, like start-up reports every bad key.
      for (const problem of problems) log.error({ reason, problem }, 'config reload refused: the running config stays');
      return { outcome: 'rejected', changed: [], restartPending, problems };
    }
    if (loaded.unknownKeys.length > 0) log.warn({ keys: loaded.unknownKeys.join(',') }, 'unknown config keys ignored');
    const previous = running;
    const pending = changedKeys(previous, loaded.config).filter(needsRestart);
    const next = pending.length > 0 ? keepRunningValues(loaded.config, previous, pending) : loaded.config;
    const changed = changedKeys(previous, next);
    running = next;
    loadedAt = new Date();
    hash = configHash(next);
    reloads += 1;
    restartPending = pending;
    lastError = null;
    if (pending.length > 0) log.warn({ keys: pending.join(','), reason }, 'config keys need a restart to change: running values kept');
    if (changed.length === 0) {
      log[reason === 'file changed' ? 'debug' : 'info']({ reason, hash }, 'config reloaded: no live key changed');
      return { outcome: 'unchanged', changed, restartPending: pending, problems: [] };
    }
    for (const listener of listeners) {
      try {
        await listener(next, previous, changed);
      } catch (error) {
        log.error({ err: error, keys: changed.join(',') }, 'applying the reloaded config failed in part');
      }
    }
    updateWatch();
    log.info({ reason, changed: changed.join(','), hash }, 'config reloaded');
    return { outcome: 'applied', changed, restartPending: pending, problems: [] };
  }

  const live: LiveConfig = {
    current: () => running,
    status: () => ({
      file,
      loaded_at: loadedAt.toISOString(),
      hash,
      reloads,
      restart_pending: [...restartPending],
      last_reload_error: lastError === null ? null : { ...lastError, problems: [...lastError.problems] },
    }),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    select<T>(derive: (config: Config) => T): () => T {
      let source: Config | undefined;
      let value: T;
      return () => {
        if (source !== running) {
          value = derive(running);
          source = running;
        }
        return value;
      };
    },
    reload(reason) {
      // One reload at a time, so listeners see changes in order.
      const result = queue.then(() => reloadNow(reason));
      queue = result.catch(() => undefined);
      return result;
    },
    close() {
      closed = true;
      updateWatch();
    },
  };
  updateWatch();
  return live;
}

/** A config that never changes (tests and library use): `reload` finds nothing new. */
export function fixedConfig(config: Config, log: Logger): LiveConfig {
  const loaded: LoadedConfig = { config, file: undefined, unknownKeys: [] };
  return createLiveConfig({ log, load: () => loaded }, { initial: loaded });
}
