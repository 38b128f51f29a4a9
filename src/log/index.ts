import pino, { type Logger } from 'pino';
import { toLogfmt } from './logfmt.js';

export type { Logger } from 'pino';
export { toLogfmt, quoteValue } from './logfmt.js';

export interface LogOptions {
  level: string;
  /** Strings that must never reach the output (passwords, keys); replaced by `***`. */
  secrets?: string[];
  /** Where lines go (defaults to stdout). */
  write?: (line: string) => void;
}

/** A pino logger writing logfmt lines, with secrets scrubbed from every line. */
export function createLogger(options: LogOptions): Logger {
  const secrets = (options.secrets ?? []).filter((secret) => secret.length >= 4);
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const destination = {
    write(json: string) {
      let line: string;
      try {
        line = toLogfmt(JSON.parse(json) as Record<string, unknown>);
      } catch {
        line = json.trimEnd();
      }
      for (const secret of secrets) if (line.includes(secret)) line = line.split(secret).join('***');
      write(`${line}\n`);
    },
  };
  return pino(
    {
      level: options.level,
      base: undefined,
      serializers: { err: (error: unknown) => (error instanceof Error ? error.message : String(error)) },
    },
    destination,
  );
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
