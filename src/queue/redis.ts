import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Config } from '../config/index.js';
import { settlesWithin } from '../timeout.js';

/** A standalone, Sentinel-backed, or cluster connection. */
export type RedisClient = Redis | Cluster;

function splitHostPort(addr: string): { host: string; port: number } {
  const separator = addr.lastIndexOf(':');
  const host = addr.slice(0, separator).replace(/^\[|\]$/g, '') || 'localhost';
  return { host, port: Number(addr.slice(separator + 1)) };
}

/**
 * ioredis options for the configured server, without behaviour flags: `addr` as
 * host:port (the seed) or a `redis://` / `rediss://` URL, TLS, username and password,
 * and Sentinels.
 */
export function redisConnectionOptions(redis: Config['redis']): RedisOptions {
  let host: string;
  let port: number;
  let db = redis.db;
  let username = redis.username;
  let password = redis.password;
  let tls = redis.tls;
  if (/^rediss?:\/\//.test(redis.addr)) {
    const url = new URL(redis.addr);
    host = url.hostname.replace(/^\[|\]$/g, '');
    port = url.port === '' ? 6379 : Number(url.port);
    if (url.username !== '') username = decodeURIComponent(url.username);
    if (url.password !== '') password = decodeURIComponent(url.password);
    const path = url.pathname.replace(/^\//, '');
    if (path !== '') db = Number(path);
    tls ||= url.protocol === 'rediss:';
  } else {
    ({ host, port } = splitHostPort(redis.addr));
  }
  const tlsOptions = tls ? { tls: redis.tls_ca_file !== '' ? { ca: readFileSync(redis.tls_ca_file) } : {} } : {};
  const sentinel =
    redis.sentinels.length > 0
      ? { sentinels: redis.sentinels.map(splitHostPort), name: redis.sentinel_master, ...(tls ? { enableTLSForSentinelMode: true } : {}) }
      : {};
  return {
    host,
    port,
    db,
    ...(username !== '' ? { username } : {}),
    ...(password !== '' ? { password } : {}),
    ...tlsOptions,
    ...sentinel,
    // Keep reconnecting, never faster than every 2 s, after a restart or outage.
    retryStrategy: (times) => Math.min(times * 100, 2000),
  };
}

function clusterOptions(nodeOptions: RedisOptions): ClusterOptions {
  const { host: _host, port: _port, db: _db, retryStrategy: _retry, ...shared } = nodeOptions;
  return { redisOptions: shared, clusterRetryStrategy: (times) => Math.min(times * 100, 2000) };
}

/**
 * The connection BullMQ workers use: commands wait for a reconnect instead of failing
 * (BullMQ requires `maxRetriesPerRequest: null` for its blocking calls). For a cluster it
 * is a `Cluster` instance, which BullMQ duplicates for its blocking connection.
 */
export function workerConnection(redis: Config['redis']): RedisOptions | Cluster {
  const options: RedisOptions = { ...redisConnectionOptions(redis), maxRetriesPerRequest: null };
  if (redis.cluster_nodes.length === 0) return options;
  return new Cluster(redis.cluster_nodes.map(splitHostPort), { ...clusterOptions(options) });
}

/**
 * A connection for request paths: fails fast while Redis is unreachable (no offline
 * queue), so an HTTP request answers 503 or falls back instead of hanging. `extra` adds
 * options (a `commandTimeout` for a connection that must not wait on a hung server).
 */
export function createFailFastRedis(redis: Config['redis'], name: string, extra: RedisOptions = {}): RedisClient {
  const options: RedisOptions = {
    ...redisConnectionOptions(redis),
    connectionName: name,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    lazyConnect: false,
    ...extra,
  };
  if (redis.cluster_nodes.length === 0) return new Redis(options);
  return new Cluster(redis.cluster_nodes.map(splitHostPort), { ...clusterOptions(options), enableOfflineQueue: false });
}

/** How long a polite QUIT may take before the connection is dropped. */
const QUIT_TIMEOUT_MS = 2000;

/** Quits a connection politely, or drops it when Redis is gone or does not answer. Idempotent. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      if (await settlesWithin(client.quit(), QUIT_TIMEOUT_MS)) return;
    } catch {
      // fall through to disconnect
    }
  }
  client.disconnect();
}
