/**
 * How `publish` and `check` reach a running daemon: its URL (`--url`, `SYNC4LOONG_URL`,
 * or the config's `http.addr`) and bearer token (`--token`, `SYNC4LOONG_TOKEN`, or the
 * config's first `http.auth_tokens` entry), over node's built-in fetch.
 */
import { ConfigError, loadConfig, type Config } from '../config/index.js';

/** A failure to report to the user: printed as is, with this exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Daemon {
  url: string;
  token: string | undefined;
}

export interface DaemonOptions {
  url?: string | undefined;
  token?: string | undefined;
  config?: string | undefined;
}

/** `http://host:port` to reach a daemon listening on `addr` (`:8080` and `0.0.0.0` mean this machine). */
export function urlForListenAddress(addr: string): string {
  const separator = addr.lastIndexOf(':');
  let host = addr.slice(0, separator).replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return `http://${host.includes(':') ? `[${host}]` : host}:${addr.slice(separator + 1)}`;
}

/**
 * The daemon's config as far as a client needs it ([http]). A client machine often has no
 * S3 settings, which the daemon requires: those are not the client's concern.
 */
function clientConfig(file: string | undefined): Config['http'] {
  try {
    return loadConfig({ file }).config.http;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    try {
      const env = { ...process.env, SYNC4LOONG_STORAGE_TYPE: 'fs', SYNC4LOONG_STORAGE_ROOT: '/nonexistent' };
      return loadConfig({ file, env }).config.http;
    } catch {
      throw new CliError(error.message, 2);
    }
  }
}

export function resolveDaemon(options: DaemonOptions): Daemon {
  let url = options.url ?? (process.env.SYNC4LOONG_URL || undefined);
  let token = options.token ?? (process.env.SYNC4LOONG_TOKEN || undefined);
  if (url === undefined || token === undefined) {
    const http = clientConfig(options.config);
    url ??= urlForListenAddress(http.addr);
    token ??= http.auth_tokens[0];
  }
  try {
    new URL(url);
  } catch {
    throw new CliError(`invalid daemon URL: ${url}`, 2);
  }
  return { url: url.replace(/\/+$/, ''), token };
}

export function headersFor(daemon: Daemon, extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, ...(daemon.token !== undefined ? { authorization: `Bearer ${daemon.token}` } : {}) };
}

/** A request to the daemon; connection failures become a `CliError` naming the URL. */
export async function call(daemon: Daemon, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  let response: Response;
  try {
    response = await fetch(daemon.url + path, {
      method,
      headers: headersFor(daemon, body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new CliError(`cannot reach the daemon at ${daemon.url}: ${cause?.code ?? cause?.message ?? (error as Error).message}`);
  }
  const text = await response.text();
  try {
    return { status: response.status, body: JSON.parse(text) };
  } catch {
    return { status: response.status, body: text };
  }
}

/** The daemon's `error` field (or the raw reply) for a failed request. */
export function errorOf(reply: { status: number; body: any }): string {
  const message = typeof reply.body === 'object' && reply.body !== null && 'error' in reply.body ? reply.body.error : reply.body;
  return `${reply.status}: ${typeof message === 'string' ? message : JSON.stringify(message)}`;
}
