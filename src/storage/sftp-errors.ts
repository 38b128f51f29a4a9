/**
 * The server could not be reached, or dropped the connection. Its `code` is one the outage
 * gate (sync/outage.ts) knows, so uploads wait for the server instead of spending attempts.
 */
export class SftpConnectionError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SftpConnectionError';
  }
}

/** The server is reachable but refused us: unknown host key or failed login. Retrying does not help until the config changes. */
export class SftpRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SftpRefusedError';
  }
}
