import pino, { type Logger } from 'pino';
import { toLogfmt } from './logfmt.js';

export type { Logger } from 'pino';
export { toLogfmt, quoteValue } from './logfmt.js';

export interface LogOptions {
  level: string;
  /**
   * Strings that must never reach the output (passwords, keys); replaced by `***`. A
   * function is asked on every line, so secrets added by a config reload are scrubbed too.
   */
  secrets?: readonly string[] | (() => readonly string[]);
  /** Where lines go (defaults to stdout). */
  write?: (line: string) => void;
}

/** A pino logger writing logfmt lines, with secrets scrubbed from every line. */
export function createLogger(options: LogOptions): Logger {
  const given = options.secrets;
  const fixed = typeof given === 'function' ? [] : scrubbable(given ?? []);
  const secrets = typeof given === 'function' ? () => scrubbable(given()) : () => fixed;
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const destination = {
    write(json: string) {
      let line: string;
      try {
        line = toLogfmt(JSON.parse(json) as Record<string, unknown>);
      } catch {
        line = json.trimEnd();
      }
      for (const secret of secrets()) if (line.includes(secret)) line = line.split(secret).join('***');
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

/** Too short a string would scrub ordinary words from every line. */
function scrubbable(secrets: readonly string[]): readonly string[] {
  return secrets.filter((secret) => secret.length >= 4);
}

/** A logger that drops everything (tests, library use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
