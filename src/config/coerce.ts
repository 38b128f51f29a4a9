/**
 * Turning strings into the schema's types: for `SYNC4LOONG_*` environment variables, and
 * for quoted scalars in the file (`db = "1"`), which the Go daemon's Viper converted.
 */
import { z } from 'zod';

export type Kind = 'string' | 'number' | 'boolean' | 'array';

/** The JSON-ish type a schema key holds. */
export function kindOf(type: z.ZodType): Kind {
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
export function coerceEnv(value: string, kind: Kind): unknown {
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

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
/** What Go's strconv.ParseBool accepts, which Viper uses for bool keys. */
const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/**
 * A TOML value of the wrong scalar type converted as Viper did when it decoded the Go
 * daemon's config: `"1"` for a number, `"false"` for a bool, `5` for a string, `"a b"`
 * for a list (split on blanks). `undefined` when there is nothing to convert or the value
 * does not convert (validation then reports it).
 */
export function coerceQuoted(value: unknown, kind: Kind): { value: unknown } | undefined {
  if (kind === 'number' && typeof value === 'string') {
    const trimmed = value.trim();
    return DECIMAL.test(trimmed) ? { value: Number(trimmed) } : undefined;
  }
  if (kind === 'boolean' && typeof value === 'string') {
    const trimmed = value.trim();
    if (GO_TRUE.has(trimmed)) return { value: true };
    if (GO_FALSE.has(trimmed)) return { value: false };
    return undefined;
  }
  if (kind === 'string' && (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')) {
    return { value: String(value) };
  }
  if (kind === 'array' && typeof value === 'string') {
    return { value: value.split(/\s+/).filter((part) => part !== '') };
  }
  return undefined;
}
