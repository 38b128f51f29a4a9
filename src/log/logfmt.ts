/**
 * Renders pino's JSON lines as logfmt (`level=info msg="file uploaded" s3_key=a size=1`).
 * Written by hand: the pino-logfmt transport runs in a worker thread, which loses the last
 * lines when the process exits at once; this in-process destination stays synchronous
 * and is small enough to own.
 */
const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
const SKIPPED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);

export function quoteValue(value: unknown): string {
  let text: string;
  if (value === null || value === undefined) text = '';
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  else if (typeof value === 'object' && 'message' in value && typeof value.message === 'string') text = value.message;
  else text = JSON.stringify(value);
  if (text !== '' && !/[\s="\\\u0000-\u001f]/.test(text)) return text;
  return JSON.stringify(text);
}

/** One pino JSON record to one logfmt line (without the newline). */
export function toLogfmt(record: Record<string, unknown>): string {
  const level = typeof record.level === 'number' ? (LEVEL_NAMES[record.level] ?? String(record.level)) : String(record.level);
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString() : String(record.time ?? new Date().toISOString());
  const parts = [`time=${time}`, `level=${level}`, `msg=${quoteValue(record.msg ?? '')}`];
  for (const [key, value] of Object.entries(record)) {
    if (SKIPPED.has(key) || value === undefined) continue;
    parts.push(`${key}=${quoteValue(value)}`);
  }
  return parts.join(' ');
}
