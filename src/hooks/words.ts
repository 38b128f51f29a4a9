/**
 * Splits `daemon.ssh_command` into an argv the way a POSIX shell splits words: blanks
 * separate words; single quotes keep everything literal; double quotes keep everything
 * literal except `\` before `$`, `` ` ``, `"`, `\` or a newline; an unquoted `\` makes the
 * next character literal; `\` + newline joins lines; `#` at the start of a word begins a
 * comment. Adjacent quoted and unquoted parts form one word (`a'b c'd` is `ab cd`).
 *
 * What a shell would do beyond splitting is refused with a message, instead of being
 * silently passed on as literal text: operators (`| & ; < > ( )` and an unquoted newline),
 * expansions (`$`, `` ` ``, a leading `~`), `NAME=value` prefixes and reserved words in
 * command position. So every command accepted here gets exactly the argv `sh` would give
 * it, except that glob characters (`* ? [`) stay literal (no file name expansion; `sh`
 * also leaves them literal when nothing matches). For anything else, `ssh_shell = true`
 * runs the string with `sh -c`.
 *
 * Written by hand because the npm libraries for this do something else:
 * - `shell-quote` (1.12) expands `$VAR` (to "" when unset), silently accepts an
 *   unterminated quote (`echo 'abc` → `["echo","abc"]`) and adds bash's `$'...'`;
 * - `shlex` (3.0, a port of Python's) only honours `\\` and `\"` inside double quotes
 *   (`"a\$b"` → `a\$b`, sh gives `a$b`) and re-applies escapes to a whole word
 *   (`a\\\\"x"` → `a\x`, sh gives `a\\x`);
 * - `string-argv` (0.4) has no backslash escapes (`a\ b` → `["a\\", "b"]`) and accepts an
 *   unterminated quote; `args-tokenizer` (0.3) drops backslashes inside single quotes
 *   (`'a\b'` → `ab`, sh gives `a\b`);
 * and none refuses what it cannot mean the way a shell would.
 * The tests compare this splitter with `/bin/sh` itself on every case.
 */

export class CommandSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandSyntaxError';
  }
}

const BLANKS = new Set([' ', '\t']);
const OPERATORS = new Set(['|', '&', ';', '<', '>', '(', ')']);
/** Escapable inside double quotes (POSIX 2.2.3); a backslash before anything else stays. */
const DOUBLE_QUOTE_ESCAPES = new Set(['$', '`', '"', '\\']);
const RESERVED_WORDS = new Set([
  '!',
  '{',
  '}',
  'case',
  'do',
  'done',
  'elif',
  'else',
  'esac',
  'fi',
  'for',
  'if',
  'in',
  'then',
  'until',
  'while',
]);
const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]*=/;

const SHELL_HINT = 'set daemon.ssh_shell = true to run the command with sh -c';

/** The argv of `command`; throws `CommandSyntaxError` for what needs a shell or is malformed. */
export function splitCommand(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined; // undefined: no word started (an empty '' still starts one)
  let quoted = false; // whether any part of the current word was quoted or escaped
  let i = 0;

  const finishWord = () => {
    if (word === undefined) return;
    if (words.length === 0 && !quoted) {
      if (ASSIGNMENT.test(word)) {
        throw new CommandSyntaxError(`"${word}": a NAME=value prefix needs a shell; use "env ${word} ..." or ${SHELL_HINT}`);
      }
      if (RESERVED_WORDS.has(word)) throw new CommandSyntaxError(`"${word}" is shell syntax; ${SHELL_HINT}`);
    }
    words.push(word);
    word = undefined;
    quoted = false;
  };
  const append = (text: string) => {
    word = (word ?? '') + text;
  };

  while (i < command.length) {
    const char = command[i]!;
    if (BLANKS.has(char)) {
      finishWord();
      i += 1;
    } else if (char === '\\') {
      const next = command[i + 1];
      if (next === undefined) throw new CommandSyntaxError('the command ends with a lone backslash');
      if (next !== '\n') {
        append(next);
        quoted = true;
      }
      i += 2;
    } else if (char === "'") {
      const end = command.indexOf("'", i + 1);
      if (end === -1) throw new CommandSyntaxError(`unterminated single quote at position ${i + 1}`);
      append(command.slice(i + 1, end));
      quoted = true;
      i = end + 1;
    } else if (char === '"') {
      i = readDoubleQuoted(command, i, append);
      quoted = true;
    } else if (char === '#' && word === undefined) {
      break; // a comment runs to the end of the string (a newline would be an operator anyway)
    } else if (char === '\n' || OPERATORS.has(char)) {
      const shown = char === '\n' ? 'a newline' : `"${char}"`;
      throw new CommandSyntaxError(`${shown} at position ${i + 1} is a shell operator; quote it to pass it literally, or ${SHELL_HINT}`);
    } else if (char === '$' || char === '`') {
      throw new CommandSyntaxError(
        `"${char}" at position ${i + 1} would expand in a shell; quote it with '...' or escape it, or ${SHELL_HINT}`,
      );
    } else if (char === '~' && word === undefined) {
      throw new CommandSyntaxError(
        `a leading "~" at position ${i + 1} would expand to a home folder in a shell; write the full path or quote it`,
      );
    } else {
      append(char);
      i += 1;
    }
  }
  finishWord();
  if (words.length === 0) throw new CommandSyntaxError('the command is empty');
  return words;
}

/** Reads `"..."` starting at the opening quote; returns the index after the closing one. */
function readDoubleQuoted(command: string, start: number, append: (text: string) => void): number {
  let i = start + 1;
  append('');
  for (;;) {
    const char = command[i];
    if (char === undefined) throw new CommandSyntaxError(`unterminated double quote at position ${start + 1}`);
    if (char === '"') return i + 1;
    if (char === '\\') {
      const next = command[i + 1];
      if (next === '\n') {
        i += 2;
      } else if (next !== undefined && DOUBLE_QUOTE_ESCAPES.has(next)) {
        append(next);
        i += 2;
      } else {
        append('\\');
        i += 1;
      }
    } else if (char === '$' || char === '`') {
      throw new CommandSyntaxError(
        `"${char}" at position ${i + 1} would expand inside double quotes; use single quotes or escape it, or ${SHELL_HINT}`,
      );
    } else {
      append(char);
      i += 1;
    }
  }
}
