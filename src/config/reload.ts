/**
 * What a reload may change. Keys that shape connections, listeners, storage or the
 * process's role are fixed for the life of the process; every other key is live: the
 * module that uses it reads the current config or subscribes to changes.
 */
import { createHash } from 'node:crypto';
import { redactConfig } from './load.js';
import type { Config } from './schema.js';

/** Keys (or whole sections) that need a restart; a reload keeps their running value. */
export const RESTART_KEYS: readonly string[] = [
  'redis',
  's3',
  'sftp',
  'storage',
  'http.addr',
  'http.body_limit_bytes',
  'http.header_timeout_seconds',
  'http.request_timeout_seconds',
  'asynqmon.enabled',
  'asynqmon.root_path',
  'daemon.role',
  'daemon.job_lock_seconds',
  'cache.max_concurrent_s3_checks',
  'cache.s3_timeout_seconds',
  'publish.batch_ttl_hours',
  'publish.idempotency_hours',
  'scrub.interval_hours', // scrub (issue 20.1): the periodic timer is set at start
];

/** Whether `key` (`section.key`) needs a restart to change. */
export function needsRestart(key: string): boolean {
  return RESTART_KEYS.some((entry) => key === entry || key.startsWith(`${entry}.`));
}

type Sections = Record<string, Record<string, unknown>>;

/** Every `section.key` whose value differs between the two configs, in schema order. */
export function changedKeys(previous: Config, next: Config): string[] {
  const before = previous as unknown as Sections;
  const after = next as unknown as Sections;
  const changed: string[] = [];
  for (const section of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[section] ?? {};
    const b = after[section] ?? {};
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (JSON.stringify(a[key]) !== JSON.stringify(b[key])) changed.push(`${section}.${key}`);
    }
  }
  return changed;
}

/** `next` with the given keys set back to their value in `running` (frozen, like every config). */
export function keepRunningValues(next: Config, running: Config, keys: readonly string[]): Config {
  const result = { ...(next as unknown as Sections) };
  const source = running as unknown as Sections;
  for (const key of keys) {
    const [section = '', name = ''] = key.split('.', 2);
    result[section] = Object.freeze({ ...result[section], [name]: source[section]?.[name] });
  }
  return Object.freeze(result) as unknown as Config;
}

/**
 * A short, stable fingerprint of a config: equal configs (on any daemon) give equal hashes.
 * Secrets are left out, so the hash, served on unauthenticated endpoints, says nothing
 * about them.
 */
export function configHash(config: Config): string {
  return createHash('sha256')
    .update(stableJson(redactConfig(config)))
    .digest('hex')
    .slice(0, 12);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${stableJson(inner)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
