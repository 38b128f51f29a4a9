/**
 * Loading order: schema defaults, then the TOML file, then `SYNC4LOONG_<SECTION>_<KEY>`
 * environment variables, then one validation of everything (all errors reported at
 * once), then a deep freeze.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import {
  configSchema,
  configWarnings,
  crossSectionProblems,
  secretFileKeys,
  sections,
  secretKeys,
  urlSecretKeys,
  type Config,
} from './schema.js';
import { coerceEnv, kindOf } from './coerce.js';
import { translateFile, type Raw } from './layout.js';

export const ENV_PREFIX = 'SYNC4LOONG_';

/** Thrown when the configuration cannot be used; `problems` lists every bad key. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** The file the Go daemon read when none was named; used when it exists. */
export const DEFAULT_CONFIG_FILE = '/etc/sync4loong/config.toml';

export interface LoadOptions {
  /**
   * Path of the TOML file; falls back to `SYNC4LOONG_CONFIG`, then to `defaultFile` when
   * it exists; none is fine.
   */
  file?: string | undefined;
  /** Environment to read overrides from (defaults to `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The file read when none is named (default `/etc/sync4loong/config.toml`, as the Go daemon). */
  defaultFile?: string;
}

export interface LoadedConfig {
  config: Config;
  /** The file that was read, if any. */
  file: string | undefined;
  /** Keys present in the file that the schema does not know (ignored, as Viper did). */
  unknownKeys: string[];
  /**
   * What loading did that the operator should know of (a Go key translated, a quoted
   * scalar converted, a key accepted that changes nothing); logged at start.
   */
  warnings?: string[];
}

/** The config file to read: the one named, else `SYNC4LOONG_CONFIG`, else the default when it exists. */
export function configFileFor(options: LoadOptions = {}): string | undefined {
  const env = options.env ?? process.env;
  const named = options.file ?? (env[`${ENV_PREFIX}CONFIG`] || undefined);
  if (named !== undefined) return named;
  const fallback = options.defaultFile ?? DEFAULT_CONFIG_FILE;
  return existsSync(fallback) ? fallback : undefined;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = configFileFor(options);
  let raw: Raw = {};
  for (const name of Object.keys(sections)) raw[name] = {};
  const unknownKeys: string[] = [];
  const warnings: string[] = [];
  const problems: string[] = [];

  if (file !== undefined) {
    const translated = translateFile(readTomlFile(file));
    raw = translated.raw;
    unknownKeys.push(...translated.unknownKeys);
    warnings.push(...translated.warnings);
    problems.push(...translated.problems);
  }

  applyEnv(raw, env);
  problems.push(...readSecretFiles(raw));
  if (problems.length > 0) throw new ConfigError(problems);
  const config = validateConfig(raw);
  warnings.push(...configWarnings(config));
  return { config, file, unknownKeys, warnings };
}

/** Validates a raw config object (sections of keys), reporting every problem at once. */
export function validateConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw);
  const problems = result.success ? [] : result.error.issues.map(formatIssue);
  problems.push(...crossSectionProblems((raw ?? {}) as Raw));
  if (!result.success || problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(result.data);
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.join('.');
  // Messages written by the schema already name the key; zod's own ones do not.
  if (path !== '' && issue.message.startsWith(path)) return issue.message;
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

function readTomlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([`cannot read config file ${file}: ${code}`]);
  }
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    const where = error instanceof TomlError ? ` at line ${error.line}, column ${error.column}` : '';
    throw new ConfigError([`config file ${file} is not valid TOML${where}`]);
  }
}

/** Reads `<key>_file` values into `<key>` and token files into `http.auth_tokens`. */
function readSecretFiles(raw: Raw): string[] {
  const problems: string[] = [];
  const read = (section: string, key: string): string | undefined => {
    const file = raw[section]?.[key];
    if (typeof file !== 'string' || file === '') return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(`${section}.${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
      return undefined;
    }
  };
  for (const [section, fileKey, target] of secretFileKeys) {
    const content = read(section, fileKey);
    if (content !== undefined) raw[section]![target] = content.replace(/\r?\n$/, '');
  }
  const tokens = read('http', 'auth_token_file');
  if (tokens !== undefined) {
    const fromFile = tokens
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    const inline = Array.isArray(raw.http?.auth_tokens) ? (raw.http.auth_tokens as unknown[]) : [];
    raw.http!.auth_tokens = [...inline, ...fromFile];
  }
  return problems;
}

/** The environment variable that overrides `section.key`. */
export function envName(section: string, key: string): string {
  return `${ENV_PREFIX}${section.toUpperCase()}_${key.toUpperCase()}`;
}

/** Sections the Go release nested under `[storage]`: `SYNC4LOONG_STORAGE_S3_*` works too. */
const NESTED_UNDER_STORAGE = new Set(['s3', 'sftp']);

function applyEnv(raw: Raw, env: NodeJS.ProcessEnv): void {
  for (const [name, section] of Object.entries(sections)) {
    for (const [key, type] of Object.entries(section.shape)) {
      const value = env[envName(name, key)] ?? (NESTED_UNDER_STORAGE.has(name) ? env[envName(`storage_${name}`, key)] : undefined);
      if (value === undefined) continue;
      raw[name]![key] = coerceEnv(value, kindOf(type as z.ZodType));
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** A copy of the config with every secret replaced, fit to print. */
export function redactConfig(config: Config): Config {
  const copy = structuredClone(config) as unknown as Raw;
  for (const [section, key] of secretKeys) {
    const value = copy[section]?.[key];
    if (Array.isArray(value)) copy[section]![key] = value.map(() => REDACTED);
    else if (value) copy[section]![key] = REDACTED;
  }
  for (const [section, key] of urlSecretKeys) {
    const value = copy[section]?.[key];
    if (typeof value === 'string') copy[section]![key] = redactUrl(value);
  }
  return copy as unknown as Config;
}

const REDACTED = '********';

/** `scheme://user:password@rest`: the user info, as written. */
const USER_INFO = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i;

/** A URL with its user info (`user:password@`) replaced, fit to print or log. */
export function redactUrl(value: string): string {
  return value.replace(USER_INFO, `$1${REDACTED}@`);
}

/** The secret parts of a URL's user info: as written and percent-decoded, the whole and the password. */
function urlSecrets(value: string): string[] {
  const info = USER_INFO.exec(value)?.[2];
  if (info === undefined || info === '') return [];
  const password = info.includes(':') ? info.slice(info.indexOf(':') + 1) : info;
  const decoded = (text: string) => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  return [...new Set([info, password, decoded(info), decoded(password)])];
}

/** Every secret value in the config, so log and error output can be scrubbed of them. */
export function secretValues(config: Config): string[] {
  const raw = config as unknown as Raw;
  const fromUrls = urlSecretKeys.flatMap(([section, key]) => {
    const value = raw[section]?.[key];
    return typeof value === 'string' ? urlSecrets(value) : [];
  });
  return secretKeys
    .flatMap(([section, key]) => {
      const value = raw[section]?.[key];
      return Array.isArray(value) ? value : [value];
    })
    .concat(fromUrls)
    .filter((v): v is string => typeof v === 'string' && v.length > 0);
}
