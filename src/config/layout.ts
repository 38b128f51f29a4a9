/**
 * The Go daemon's config files, translated into our layout in front of the one schema
 * (a second accepted layout is a translation step, not a second schema). Accepted:
 *
 * - the early design's layout (`[s3]`, `[cache] max_concurrent_s3_checks`), which is ours;
 * - the current Go release's (`[storage] type` with `[storage.s3]` and `[storage.sftp]`,
 *   `[cache] max_concurrent_storage_checks`, the S3 retry and timeout keys);
 * - either written as Viper read it: section and key names in any case, quoted scalars
 *   (`db = "1"`, `enabled = "false"`) converted to the key's type.
 *
 * Every step that changes what the file says, or accepts a key that changes nothing,
 * leaves a warning naming the key; the daemon logs them at start.
 */
import type { z } from 'zod';
import { coerceQuoted, kindOf, type Kind } from './coerce.js';
import { sections, type SectionName } from './schema.js';

type Table = Record<string, unknown>;
export type Raw = Record<string, Table>;

export interface Translated {
  /** Known sections and keys, in our layout, for the schema. */
  raw: Raw;
  /** Keys neither layout knows (ignored, as Viper did). */
  unknownKeys: string[];
  /** What the translation did that an operator should know of. */
  warnings: string[];
  /** Go keys whose values the Go daemon would have refused too. */
  problems: string[];
}

/** The Go release's default S3 region, which it applied to `[storage.s3]`. */
const GO_DEFAULT_REGION = 'us-east-1';

/** Same setting, two names: `[section] goKey` is read as `[target] ourKey`; ours wins when both differ. */
const ALIASES: ReadonlyArray<{ section: string; goKey: string; target: SectionName; ourKey: string }> = [
  { section: 'cache', goKey: 'max_concurrent_storage_checks', target: 'cache', ourKey: 'max_concurrent_s3_checks' },
  { section: 's3', goKey: 'file_upload_retry_delay_seconds', target: 'publish', ourKey: 'retry_backoff_seconds' },
];

/** The Go release's S3 keys that have no key of their own here, with Go's ranges. */
const GO_ONLY_S3_KEYS: Readonly<Record<string, { kind: Kind; min?: number; max?: number }>> = {
  max_retries: { kind: 'number', min: 0, max: 10 },
  file_upload_retry_count: { kind: 'number', min: 0, max: 5 },
  file_upload_timeout_seconds: { kind: 'number', min: 1, max: 100000 },
  enable_integrity_check: { kind: 'boolean' },
};

/** Keys of the Go release's example config that the Go daemon never read: accepted, with what they mean here. */
const GO_UNREAD_KEYS: ReadonlyArray<{ section: string; key: string; meaning: string }> = [
  {
    section: 'daemon',
    key: 'delete_after_sync',
    meaning: 'deleting local files after upload is asked per publish item ("delete_after_sync": true in POST /publish)',
  },
];

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Lower-cases every table key (Viper's keys are case-insensitive), warning for each one renamed. */
function lowerKeys(table: Table, path: string, written: string, warnings: string[]): Table {
  const out: Table = {};
  for (const [key, value] of Object.entries(table)) {
    const lower = key.toLowerCase();
    const name = `${written}${key}`;
    if (lower !== key) warnings.push(`config key ${name} read as ${path}${lower} (keys are case-insensitive, as in the Go daemon)`);
    const lowered = isTable(value) ? lowerKeys(value, `${path}${lower}.`, `${name}.`, warnings) : value;
    const existing = out[lower];
    if (existing === undefined) out[lower] = lowered;
    else if (isTable(existing) && isTable(lowered)) out[lower] = { ...existing, ...lowered };
    else if (!same(existing, lowered)) {
      warnings.push(`config keys ${path}${lower} set twice with different case: ${name} (the later one) is used`);
      out[lower] = lowered;
    }
  }
  return out;
}

/** Moves `[storage.<name>]` into the top-level `[<name>]`; `[<name>]` wins where both set a key. */
function liftStorageTable(file: Table, name: 's3' | 'sftp', warnings: string[], problems: string[]): boolean {
  const storage = file.storage;
  if (!isTable(storage) || storage[name] === undefined) return false;
  const nested = storage[name];
  delete storage[name];
  if (!isTable(nested)) {
    problems.push(`storage.${name}: must be a [storage.${name}] table`);
    return false;
  }
  const top = file[name] === undefined ? {} : file[name];
  if (!isTable(top)) return false; // reported by the loader as a bad [name] section
  for (const [key, value] of Object.entries(nested)) {
    if (top[key] === undefined) top[key] = value;
    else if (!same(top[key], value)) {
      warnings.push(`${name}.${key} and storage.${name}.${key} are both set and differ: ${name}.${key} is used`);
    }
  }
  file[name] = top;
  return true;
}

/** Go's S3 keys with no key of their own: each turned into its nearest meaning here, or a warning. */
function goOnlyS3Keys(file: Table, warnings: string[], problems: string[]): void {
  const s3 = file.s3;
  if (!isTable(s3)) return;
  const values: Record<string, unknown> = {};
  for (const [key, rule] of Object.entries(GO_ONLY_S3_KEYS)) {
    if (s3[key] === undefined) continue;
    let value: unknown = s3[key];
    delete s3[key];
    const converted = coerceQuoted(value, rule.kind);
    if (converted !== undefined) {
      warnings.push(
        `s3.${key}: the value ${JSON.stringify(value)} read as ${JSON.stringify(converted.value)} (quoted scalar, as Viper did)`,
      );
      value = converted.value;
    }
    const ok =
      rule.kind === 'boolean'
        ? typeof value === 'boolean'
        : typeof value === 'number' && Number.isInteger(value) && value >= (rule.min ?? -Infinity) && value <= (rule.max ?? Infinity);
    if (!ok) {
      problems.push(`s3.${key} must be ${rule.kind === 'boolean' ? 'true or false' : `an integer from ${rule.min} to ${rule.max}`}`);
      continue;
    }
    values[key] = value;
  }
  if (values.max_retries !== undefined) {
    warnings.push(
      `s3.max_retries = ${String(values.max_retries)} accepted and unused: single S3 requests are not retried inside an upload; a failed upload is retried as a job (publish.max_retry), and storage outages wait without spending retries`,
    );
  }
  if (values.file_upload_retry_count !== undefined) {
    warnings.push(
      `s3.file_upload_retry_count = ${String(values.file_upload_retry_count)} accepted and unused: a failed upload is retried as a job, publish.max_retry times, the first retry after publish.retry_backoff_seconds, doubling`,
    );
  }
  if (values.enable_integrity_check === false) {
    warnings.push(
      's3.enable_integrity_check = false accepted and unused: every upload is verified (Content-MD5 sent, the returned ETag compared), as the Go daemon also ignored this key',
    );
  }
  const timeoutSeconds = values.file_upload_timeout_seconds;
  if (typeof timeoutSeconds === 'number') {
    const publish = isTable(file.publish) ? file.publish : (file.publish = {});
    if (!isTable(publish)) return;
    const asMinutes = Math.min(1440, Math.ceil(timeoutSeconds / 60));
    const written = publish.timeout_minutes;
    const given = typeof written === 'string' ? (coerceQuoted(written, 'number')?.value ?? written) : written;
    if (typeof given === 'number' && given <= asMinutes) {
      if (given !== asMinutes) {
        warnings.push(
          `s3.file_upload_timeout_seconds = ${timeoutSeconds} and publish.timeout_minutes = ${given} both limit an upload: the shorter, publish.timeout_minutes = ${given}, is used`,
        );
      }
    } else {
      publish.timeout_minutes = asMinutes;
      warnings.push(
        `s3.file_upload_timeout_seconds = ${timeoutSeconds} read as publish.timeout_minutes = ${asMinutes} (whole minutes, rounded up${given === undefined ? '' : `; shorter than publish.timeout_minutes = ${String(given)}`})`,
      );
    }
  }
}

function applyAliases(file: Table, warnings: string[]): void {
  for (const { section, goKey, target, ourKey } of ALIASES) {
    const from = file[section];
    if (!isTable(from) || from[goKey] === undefined) continue;
    const value = from[goKey];
    delete from[goKey];
    const to = isTable(file[target]) ? (file[target] as Table) : (file[target] = {});
    if (!isTable(to)) continue;
    if (to[ourKey] === undefined) to[ourKey] = value;
    else if (!same(to[ourKey], value)) {
      warnings.push(`${target}.${ourKey} and ${section}.${goKey} name one setting and differ: ${target}.${ourKey} is used`);
    }
  }
}

/**
 * Translates a parsed TOML file into our layout. The result's `raw` holds only keys the
 * schema knows, quoted scalars already converted.
 */
export function translateFile(parsed: Table): Translated {
  const warnings: string[] = [];
  const problems: string[] = [];
  const unknownKeys: string[] = [];
  const file = lowerKeys(parsed, '', '', warnings);
  const goLayout = liftStorageTable(file, 's3', warnings, problems);
  liftStorageTable(file, 'sftp', warnings, problems);
  // The Go release defaulted the region of [storage.s3]; the early design required it.
  if (goLayout && isTable(file.s3) && file.s3.region === undefined) file.s3.region = GO_DEFAULT_REGION;
  goOnlyS3Keys(file, warnings, problems);
  applyAliases(file, warnings);
  for (const { section, key, meaning } of GO_UNREAD_KEYS) {
    const table = file[section];
    if (!isTable(table) || table[key] === undefined) continue;
    warnings.push(`${section}.${key} accepted and unused, as the Go daemon ignored it: ${meaning}`);
    delete table[key];
  }

  const raw: Raw = {};
  for (const name of Object.keys(sections)) raw[name] = {};
  for (const [name, value] of Object.entries(file)) {
    if (!(name in sections)) {
      unknownKeys.push(name);
      continue;
    }
    if (!isTable(value)) {
      problems.push(`${name}: must be a [${name}] table`);
      continue;
    }
    const shape = sections[name as SectionName].shape as Record<string, z.ZodType>;
    for (const [key, keyValue] of Object.entries(value)) {
      const type = shape[key];
      if (type === undefined) {
        unknownKeys.push(`${name}.${key}`);
        continue;
      }
      const converted = coerceQuoted(keyValue, kindOf(type));
      if (converted !== undefined) {
        warnings.push(
          `${name}.${key}: the value ${JSON.stringify(keyValue)} read as ${JSON.stringify(converted.value)} (quoted scalar, as Viper did)`,
        );
        raw[name]![key] = converted.value;
      } else {
        raw[name]![key] = keyValue;
      }
    }
  }
  return { raw, unknownKeys, warnings, problems };
}
