/**
 * Splits `daemon.ssh_command` into an argv. The Go daemon split it on whitespace and ran
 * it without a shell, so every character reached the command as typed (and `ssh` handed
 * `~ $ | ;` to the remote shell). Here too: words are separated by whitespace (what Go's
 * `strings.Fields` splits on) and every character we do not interpret is passed on
 * literally inside its word. What we do interpret is POSIX quoting, so that a quoted
 * argument stays one word (the Go daemon sent `'a` and `b'` for `'a b'`):
 * - single quotes keep everything literal;
 * - double quotes keep everything literal except `\` before `$`, `` ` ``, `"`, `\` or a
 *   newline;
 * - an unquoted `\` makes the next character literal (`\` + newline joins lines; a
 *   trailing lone `\` is kept);
 * - adjacent quoted and unquoted parts form one word (`a'b c'd` is `ab cd`).
 * An unterminated quote is kept as a literal character, as Go kept it. Shell syntax
 * (operators `| & ; < > ( )`, `$`, `` ` ``, a leading `~` or `#`, `NAME=value` prefixes,
 * reserved words) is not interpreted: `parseCommand` lists what it found, so loading can
 * warn that `ssh_shell = true` gives local shell semantics. Glob characters stay literal.
 *
 * Written by hand because the npm libraries for this do something else:
 * - `shell-quote` (1.12) expands `$VAR` (to "" when unset), silently accepts an
 *   unterminated quote (`echo 'abc` → `["echo","abc"]`) and adds bash's `$'...'`;
 * - `shlex` (3.0, a port of Python's) only honours `\\` and `\"` inside double quotes
 *   (`"a\$b"` → `a\$b`, sh gives `a$b`) and re-applies escapes to a whole word
 *   (`a\\\\"x"` → `a\x`, sh gives `a\\x`);
 * - `string-argv` (0.4) has no backslash escapes (`a\ b` → `["a\\", "b"]`) and accepts an
 *   unterminated quote; `args-tokenizer` (0.3) drops backslashes inside single quotes
 *   (`'a\b'` → `ab`, sh gives `a\b`).
 * The tests compare this splitter with `/bin/sh` on commands without shell syntax, and
 * with Go's whitespace split on unquoted ones.
 */

export class CommandSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandSyntaxError';
  }
}

/** Go's `unicode.IsSpace`: what `strings.Fields` splits on. */
const BLANK = /^[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]$/;
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

export interface ParsedCommand {
  /** The argv. */
  words: string[];
  /** Shell syntax found and passed on literally (`"|"`, `"$"`, `a leading "~"`, ...), each once. */
  shellSyntax: string[];
  /** Quotes left unterminated, kept as literal characters (`single quote at position 6`). */
  unterminated: string[];
}

/** The argv of `command`; throws `CommandSyntaxError` only when it has no word. */
export function splitCommand(command: string): string[] {
  const { words } = parseCommand(command);
  if (words.length === 0) throw new CommandSyntaxError('the command is empty');
  return words;
}

/** Splits `command` (see the file's comment) and reports the shell syntax it passed on literally. */
export function parseCommand(command: string): ParsedCommand {
  const words: string[] = [];
  const shellSyntax = new Set<string>();
  const unterminated: string[] = [];
  let word: string | undefined; // undefined: no word started (an empty '' still starts one)
  let quoted = false; // whether any part of the current word was quoted or escaped
  let i = 0;

  const finishWord = () => {
    if (word === undefined) return;
    if (words.length === 0 && !quoted) {
      if (ASSIGNMENT.test(word)) shellSyntax.add('a NAME=value prefix');
      if (RESERVED_WORDS.has(word)) shellSyntax.add(`the reserved word "${word}"`);
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
    if (BLANK.test(char)) {
      finishWord();
      i += 1;
    } else if (char === '\\') {
      const next = command[i + 1];
      if (next === undefined) {
        append(char);
      } else if (next !== '\n') {
        append(next);
        quoted = true;
      }
      i += 2;
    } else if (char === "'") {
      const end = command.indexOf("'", i + 1);
      if (end === -1) {
        unterminated.push(`single quote at position ${i + 1}`);
        append(char);
        i += 1;
      } else {
        append(command.slice(i + 1, end));
        quoted = true;
        i = end + 1;
      }
    } else if (char === '"') {
      const end = readDoubleQuoted(command, i, shellSyntax);
      if (end === undefined) {
        unterminated.push(`double quote at position ${i + 1}`);
        append(char);
        i += 1;
      } else {
        append(end.text);
        quoted = true;
        i = end.next;
      }
    } else {
      if (OPERATORS.has(char) || char === '$' || char === '`') shellSyntax.add(`"${char}"`);
      else if ((char === '~' || char === '#') && word === undefined) shellSyntax.add(`a leading "${char}"`);
      append(char);
      i += 1;
    }
  }
  finishWord();
  return { words, shellSyntax: [...shellSyntax], unterminated };
}

/** Reads `"..."` starting at the opening quote: its text and the index after the closing quote, or undefined when unterminated. */
function readDoubleQuoted(command: string, start: number, shellSyntax: Set<string>): { text: string; next: number } | undefined {
  let i = start + 1;
  let text = '';
  const found: string[] = [];
  for (;;) {
    const char = command[i];
    if (char === undefined) return undefined;
    if (char === '"') {
      for (const syntax of found) shellSyntax.add(syntax);
      return { text, next: i + 1 };
    }
    if (char === '\\') {
      const next = command[i + 1];
      if (next === '\n') {
        i += 2;
      } else if (next !== undefined && DOUBLE_QUOTE_ESCAPES.has(next)) {
        text += next;
        i += 2;
      } else {
        text += '\\';
        i += 1;
      }
    } else {
      if (char === '$' || char === '`') found.push(`"${char}" inside double quotes`);
      text += char;
      i += 1;
    }
  }
}
