import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { hostKeyProblem, type HostKeyPolicy } from './sftp-host-key.js';
import { SftpConnectionError, SftpRefusedError } from './sftp-errors.js';
import { isLost, markLost } from './sftp-io.js';

export { SftpConnectionError, SftpRefusedError } from './sftp-errors.js';

export interface SftpConnectOptions {
  host: string;
  port: number;
  username: string;
  password?: string | undefined;
  privateKey?: string | Buffer | undefined;
  passphrase?: string | undefined;
  /** Handshake (TCP connect, key exchange, authentication) deadline. */
  connectTimeoutMs: number;
  /** SSH keep-alive interval; the connection is dropped after 3 unanswered ones. */
  keepaliveIntervalMs: number;
  hostKey: HostKeyPolicy;
}

export interface SftpPoolOptions extends SftpConnectOptions {
  /** SSH connections opened at most; each carries many SFTP requests at once. */
  connections: number;
}

interface Slot {
  client?: Client | undefined;
  sftp?: SFTPWrapper | undefined;
  connecting?: Promise<SFTPWrapper> | undefined;
  /** Operations running on (or waiting for) this connection. */
  inflight: number;
  failures: number;
  /** No new attempt before this time (ms since epoch) after a failed one. */
  retryAt: number;
}

/** Reconnect backoff: 250 ms, doubling, at most 2 s (the outage gate probes every 2 s). */
function backoffMs(failures: number): number {
  return Math.min(250 * 2 ** Math.max(failures - 1, 0), 2000);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `promise`, or its caller gives up when `signal` aborts (the promise itself goes on). */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** What a failed handshake means for the caller: unreachable (wait), or refused (fail). */
function connectError(error: Error & { level?: string; code?: string }, hostKeyRefusal: string | undefined): Error {
  if (hostKeyRefusal !== undefined) return new SftpRefusedError(hostKeyRefusal);
  if (error.level === 'client-authentication') return new SftpRefusedError(`SFTP login refused: ${error.message}`);
  if (error.level === 'client-timeout') return new SftpConnectionError(`SFTP connection timed out: ${error.message}`, 'ETIMEDOUT');
  return new SftpConnectionError(`SFTP connection failed: ${error.message}`, error.code ?? 'ECONNRESET', { cause: error });
}

/**
 * A small pool of SSH connections, opened lazily as load rises, each with one SFTP
 * session that many operations share (their requests interleave on the channel). A
 * dropped connection is reopened on next use, after a backoff when it failed.
 */
export function createSftpPool(options: SftpPoolOptions) {
  const slots: Slot[] = Array.from({ length: Math.max(1, options.connections) }, () => ({ inflight: 0, failures: 0, retryAt: 0 }));
  let closed = false;

  function connect(slot: Slot): Promise<SFTPWrapper> {
    return new Promise<SFTPWrapper>((resolve, reject) => {
      const client = new Client();
      let hostKeyRefusal: string | undefined;
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        client.end();
        reject(error);
      };
      client.on('error', (error: Error & { level?: string; code?: string }) => {
        if (!settled) fail(connectError(error, hostKeyRefusal));
      });
      client.on('close', () => {
        if (slot.client === client) {
          slot.client = undefined;
          slot.sftp = undefined;
        }
        fail(new SftpConnectionError('SFTP connection closed during the handshake', 'ECONNRESET'));
      });
      client.on('ready', () => {
        client.sftp((error, sftp) => {
          if (error) return fail(new SftpConnectionError(`SFTP subsystem refused: ${error.message}`, 'ECONNRESET', { cause: error }));
          if (settled) return;
          settled = true;
          slot.client = client;
          slot.sftp = sftp;
          const drop = () => {
            markLost(sftp);
            if (slot.sftp === sftp) {
              slot.sftp = undefined;
              slot.client = undefined;
              client.end();
            }
          };
          sftp.on('end', drop);
          sftp.on('close', drop);
          sftp.on('error', drop);
          client.on('end', drop);
          client.on('close', drop);
          resolve(sftp);
        });
      });
      const config: ConnectConfig = {
        host: options.host,
        port: options.port,
        username: options.username,
        readyTimeout: options.connectTimeoutMs,
        keepaliveInterval: options.keepaliveIntervalMs,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          hostKeyRefusal = hostKeyProblem(options.hostKey, key);
          return hostKeyRefusal === undefined;
        },
      };
      if (options.password !== undefined && options.password !== '') config.password = options.password;
      if (options.privateKey !== undefined && options.privateKey !== '') config.privateKey = options.privateKey;
      if (options.passphrase !== undefined && options.passphrase !== '') config.passphrase = options.passphrase;
      try {
        client.connect(config);
      } catch (error) {
        // A key that cannot be parsed (or needs a passphrase) throws here.
        fail(new SftpRefusedError(`SFTP private key unusable: ${(error as Error).message}`));
      }
    });
  }

  async function ready(slot: Slot, signal: AbortSignal | undefined): Promise<SFTPWrapper> {
    for (;;) {
      if (closed) throw new SftpConnectionError('SFTP storage is closed', 'ECONNRESET');
      if (slot.sftp !== undefined) return slot.sftp;
      if (slot.connecting === undefined) {
        const wait = slot.retryAt - Date.now();
        if (wait > 0) await sleep(wait, signal);
        if (slot.sftp !== undefined || slot.connecting !== undefined) continue;
        slot.connecting = connect(slot).then(
          (sftp) => {
            slot.failures = 0;
            slot.connecting = undefined;
            if (closed) slot.client?.end();
            return sftp;
          },
          (error: unknown) => {
            slot.failures += 1;
            slot.retryAt = Date.now() + backoffMs(slot.failures);
            slot.connecting = undefined;
            throw error;
          },
        );
        // Callers that gave up (signal) no longer await it: not an unhandled rejection.
        slot.connecting.catch(() => {});
      }
      return untilAborted(slot.connecting, signal);
    }
  }

  /** The least busy connection; an open one wins a tie, a backing-off one loses. */
  function pick(): Slot {
    const now = Date.now();
    const score = (slot: Slot) => slot.inflight * 2 + (slot.sftp === undefined ? 1 : 0) + (slot.retryAt > now ? 1000 : 0);
    let best = slots[0]!;
    for (const slot of slots) if (score(slot) < score(best)) best = slot;
    return best;
  }

  return {
    /**
     * Runs `operation` with an SFTP session. An error after which the connection is gone
     * (dropped, server stopped) becomes an `SftpConnectionError`.
     */
    async run<T>(signal: AbortSignal | undefined, operation: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
      const slot = pick();
      slot.inflight += 1;
      try {
        const sftp = await ready(slot, signal);
        try {
          // A request the server never answers (a hung server) is noticed by the keep-alives
          // within 45 s; a caller with a deadline (the outage probe, /readyz) stops waiting at it.
          return await untilAborted(operation(sftp), signal);
        } catch (error) {
          const gone = isLost(sftp) || (error as Error | null)?.message === 'No response from server';
          if (gone && !(error instanceof SftpConnectionError) && !signal?.aborted) {
            throw new SftpConnectionError(`SFTP connection lost: ${(error as Error).message}`, 'ECONNRESET', { cause: error });
          }
          throw error;
        }
      } finally {
        slot.inflight -= 1;
      }
    },
    /** Connections open right now. */
    openConnections: () => slots.filter((slot) => slot.sftp !== undefined).length,
    close(): void {
      closed = true;
      for (const slot of slots) {
        slot.client?.end();
        slot.client = undefined;
        slot.sftp = undefined;
      }
    },
  };
}

export type SftpPool = ReturnType<typeof createSftpPool>;
