import { z } from 'zod';
import { sections } from './schema.js';
import { envName } from './load.js';

function unwrap(type: z.ZodType): { inner: z.ZodType; fallback: unknown } {
  let inner: z.ZodType = type;
  let fallback: unknown;
  while (inner instanceof z.ZodDefault || inner instanceof z.ZodOptional) {
    if (inner instanceof z.ZodDefault) fallback = (inner.def as { defaultValue: unknown }).defaultValue;
    inner = inner.unwrap() as z.ZodType;
  }
  return { inner, fallback };
}

function typeName(inner: z.ZodType): string {
  if (inner instanceof z.ZodNumber) {
    const json = z.toJSONSchema(inner) as Record<string, unknown>;
    const parts: string[] = [];
    if (typeof json.exclusiveMinimum === 'number') parts.push(`> ${json.exclusiveMinimum}`);
    if (typeof json.minimum === 'number' && json.minimum > Number.MIN_SAFE_INTEGER) parts.push(`>= ${json.minimum}`);
    if (typeof json.maximum === 'number' && json.maximum < Number.MAX_SAFE_INTEGER) parts.push(`<= ${json.maximum}`);
    const name = json.type === 'integer' ? 'integer' : 'number';
    return parts.length > 0 ? `${name} (${parts.join(', ')})` : name;
  }
  if (inner instanceof z.ZodBoolean) return 'bool';
  if (inner instanceof z.ZodArray) return 'string[]';
  if (inner instanceof z.ZodEnum) return (inner.options as string[]).map((option) => `"${option}"`).join(' \\| ');
  return 'string';
}

/** The configuration reference (`docs/configuration.md`), generated from the schema (`npm run docs:config`). */
export function configReference(): string {
  const lines: string[] = [];
  for (const [name, section] of Object.entries(sections)) {
    lines.push(`## [${name}]`, '', '| key | type | default | env | description |', '|---|---|---|---|---|');
    for (const [key, type] of Object.entries(section.shape)) {
      const { inner, fallback } = unwrap(type as z.ZodType);
      const description = ((type as z.ZodType).description ?? '').replace(/\|/g, '\\|');
      const shown = fallback === undefined ? '' : `\`${JSON.stringify(fallback)}\``;
      lines.push(`| \`${key}\` | ${typeName(inner)} | ${shown} | \`${envName(name, key)}\` | ${description} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
