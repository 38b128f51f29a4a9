/**
 * Loading order: schema defaults, then the TOML file, then `SYNC4LOONG_<SECTION>_<KEY>`
 * environment variables, then one validation of everything (all errors reported at
 * once), then a deep freeze.
 */
import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import { z } from 'zod';
import {
  configSchema,
  crossSectionProblems,
  secretFileKeys,
  sections,
  secretKeys,
  urlSecretKeys,
  type Config,
  type SectionName,
} from './schema.js';

export const ENV_PREFIX = 'SYNC4LOONG_';

/** Thrown when the configuration cannot be used; `problems` lists every bad key. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Path of the TOML file; falls back to `SYNC4LOONG_CONFIG`; none is fine. */
  file?: string | undefined;
  /** Environment to read overrides from (defaults to `process.env`). */
  env?: NodeJS.ProcessEnv;
}

export interface LoadedConfig {
  config: Config;
  /** The file that was read, if any. */
  file: string | undefined;
  /** Keys present in the file that the schema does not know (ignored, as Viper did). */
  unknownKeys: string[];
}

type Raw = Record<string, Record<string, unknown>>;

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? (env[`${ENV_PREFIX}CONFIG`] || undefined);
  const raw: Raw = {};
  for (const name of Object.keys(sections)) raw[name] = {};
  const unknownKeys: string[] = [];
  const problems: string[] = [];

  if (file !== undefined) {
    const fromFile = readTomlFile(file);
    for (const [name, value] of Object.entries(fromFile)) {
      if (!(name in sections)) {
        unknownKeys.push(name);
        continue;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        problems.push(`${name}: must be a [${name}] table`);
        continue;
      }
      const section = sections[name as SectionName];
      for (const [key, keyValue] of Object.entries(value)) {
        if (key in section.shape) raw[name]![key] = keyValue;
        else unknownKeys.push(`${name}.${key}`);
      }
    }
  }

  applyEnv(raw, env);
  problems.push(...readSecretFiles(raw));
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: validateConfig(raw), file, unknownKeys };
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

function applyEnv(raw: Raw, env: NodeJS.ProcessEnv): void {
  for (const [name, section] of Object.entries(sections)) {
    for (const [key, type] of Object.entries(section.shape)) {
      const value = env[envName(name, key)];
      if (value === undefined) continue;
      raw[name]![key] = coerceEnv(value, kindOf(type as z.ZodType));
    }
  }
}

type Kind = 'string' | 'number' | 'boolean' | 'array';

function kindOf(type: z.ZodType): Kind {
  let inner: z.ZodType = type;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) {
    inner = inner.unwrap() as z.ZodType;
  }
  if (inner instanceof z.ZodNumber) return 'number';
  if (inner instanceof z.ZodBoolean) return 'boolean';
  if (inner instanceof z.ZodArray) return 'array';
  return 'string';
}

/** Env values are strings; turn them into the schema's type, or leave them for validation to report. */
function coerceEnv(value: string, kind: Kind): unknown {
  const trimmed = value.trim();
  switch (kind) {
    case 'number': {
      const number = Number(trimmed);
      return trimmed === '' || Number.isNaN(number) ? value : number;
    }
    case 'boolean': {
      const lower = trimmed.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(lower)) return true;
      if (['false', '0', 'no', 'off'].includes(lower)) return false;
      return value;
    }
    case 'array':
      return trimmed
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== '');
    default:
      return value;
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
