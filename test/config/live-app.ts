/** The real daemon in-process with a reloadable config, and a storage whose uploads can be held. */
import { createApp, type App } from '../../src/app.js';
import { createLiveConfig, validateConfig, type LiveConfig, type ReloadResult } from '../../src/config/index.js';
import { createLogger, type Logger } from '../../src/log/index.js';
import type { Storage } from '../../src/storage/index.js';
import { queueIdle, request, testLogger } from '../helpers/daemon.js';

type RawConfig = { [section: string]: Record<string, unknown> };

/** `raw` with `overrides` merged in section by section. */
export function withOverrides(raw: RawConfig, overrides: RawConfig): RawConfig {
  const merged: RawConfig = { ...raw };
  for (const [section, values] of Object.entries(overrides)) merged[section] = { ...raw[section], ...values };
  return merged;
}

export interface LiveApp {
  app: App;
  live: LiveConfig;
  url: string;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  put(path: string, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
  /** Reloads with the start-up config plus `overrides` (as a changed config file would). */
  reconfigure(overrides: RawConfig): Promise<ReloadResult>;
  idle(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** A logger whose logfmt lines are kept (and printed too when TEST_LOG_LEVEL is set). */
export function capturingLogger(level: string): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({
    level,
    write: (line) => {
      lines.push(line);
      if (process.env.TEST_LOG_LEVEL) process.stdout.write(line);
    },
  });
  return { log, lines };
}

export async function startLiveApp(raw: RawConfig, options: { storage?: Storage; log?: Logger } = {}): Promise<LiveApp> {
  let current = raw;
  // The loader validates like start-up does; a bad raw config throws ConfigError, as a bad file would.
  const load = () => ({ config: validateConfig(current), file: undefined, unknownKeys: [] });
  const log = options.log ?? testLogger();
  const live = createLiveConfig({ log, load });
  const app = createApp(live.current(), {
    log,
    live,
    listen: { host: '127.0.0.1', port: 0 },
    ...(options.storage ? { storage: options.storage } : {}),
  });
  await app.start();
  return {
    app,
    live,
    url: app.url,
    get: (path, headers) => request(app.url, 'GET', path, undefined, headers),
    post: (path, body, headers) => request(app.url, 'POST', path, body, headers),
    put: (path, headers) => request(app.url, 'PUT', path, undefined, headers),
    reconfigure(overrides) {
      current = withOverrides(raw, overrides);
      return live.reload('test');
    },
    idle: (timeoutMs) => queueIdle(app, timeoutMs),
    async close() {
      live.close();
      await app.close();
    },
  };
}

/**
 * Wraps a storage so every `putFile` waits at a gate until released, counting uploads in
 * flight (started, not finished) and the most seen at once.
 */
export function gatedStorage(inner: Storage) {
  const waiting: Array<() => void> = [];
  let open = false;
  let inFlight = 0;
  let maxInFlight = 0;
  const storage: Storage = {
    description: inner.description,
    head: (key, options) => inner.head(key, options),
    sameContent: (remote, path) => inner.sameContent(remote, path),
    ping: (signal) => inner.ping(signal),
    close: () => inner.close(),
    async putFile(key, path, options) {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (!open) await new Promise<void>((resolve) => waiting.push(resolve));
        return await inner.putFile(key, path, options);
      } finally {
        inFlight -= 1;
      }
    },
  };
  return {
    storage,
    inFlight: () => inFlight,
    held: () => waiting.length,
    maxInFlight: () => maxInFlight,
    resetMax: () => void (maxInFlight = inFlight),
    releaseOne: () => waiting.shift()?.(),
    releaseHeld: () => waiting.splice(0).forEach((release) => release()),
    openGate: () => {
      open = true;
      waiting.splice(0).forEach((release) => release());
    },
  };
}
