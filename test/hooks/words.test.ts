import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCommand, splitCommand, CommandSyntaxError } from '../../src/hooks/index.js';
import { validateConfig, ConfigError } from '../../src/config/index.js';
import { configWarnings } from '../../src/config/schema.js';

/** How `/bin/sh` itself splits `command` (globbing off, in an empty folder). */
function shellWords(command: string): string[] {
  const cwd = mkdtempSync(join(tmpdir(), 'sync4loong-words-'));
  const result = spawnSync('/bin/sh', ['-c', 'set -f; eval "set -- $1"; printf "%s\\0" "$@"', 'sh', command], { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `sh failed on ${JSON.stringify(command)}: ${result.stderr}`);
  return result.stdout.split('\0').slice(0, -1);
}

const ACCEPTED: Array<[string, string[]]> = [
  [`printf '%s|' 'a b' c`, ['printf', '%s|', 'a b', 'c']],
  [`ssh host 'nix-store --import < /tmp/x | tee log'`, ['ssh', 'host', 'nix-store --import < /tmp/x | tee log']],
  [`ssh -o "StrictHostKeyChecking no" builder@10.0.0.2 true`, ['ssh', '-o', 'StrictHostKeyChecking no', 'builder@10.0.0.2', 'true']],
  ['  a \t  b  ', ['a', 'b']],
  [`a'b c'd`, ['ab cd']],
  [`a"b c"d'e'f`, ['ab cdef']],
  [`x '' y ""`, ['x', '', 'y', '']],
  [`echo a\\ b`, ['echo', 'a b']],
  [`echo \\'quoted\\'`, ['echo', "'quoted'"]],
  [`echo "say \\"hi\\""`, ['echo', 'say "hi"']],
  [`echo "a\\$b" "c\\\`d" "e\\\\f"`, ['echo', 'a$b', 'c`d', 'e\\f']],
  [`echo "keep\\n\\x"`, ['echo', 'keep\\n\\x']],
  [`echo 'single \\ stays' '\\n'`, ['echo', 'single \\ stays', '\\n']],
  [`echo a\\\\\\\\"x"`, ['echo', 'a\\\\x']],
  [`echo "it's"`, ['echo', "it's"]],
  [`echo 'say "hi"'`, ['echo', 'say "hi"']],
  [`echo 'a$b' '\`x\`' '~/y'`, ['echo', 'a$b', '`x`', '~/y']],
  [`echo \\$HOME \\~ \\| \\;`, ['echo', '$HOME', '~', '|', ';']],
  [`echo a~b x=1 -- --opt=v`, ['echo', 'a~b', 'x=1', '--', '--opt=v']],
  [`echo *.nar ? [ab]`, ['echo', '*.nar', '?', '[ab]']],
  [`echo one \\\ntwo`, ['echo', 'one', 'two']],
  [`echo "join\\\nlines"`, ['echo', 'joinlines']],
  [`echo a#b "#c"`, ['echo', 'a#b', '#c']],
  [`env FOO=bar prog`, ['env', 'FOO=bar', 'prog']],
  [`'FOO=bar' prog`, ['FOO=bar', 'prog']],
  [`"if" then`, ['if', 'then']],
  [`echo ünïcødé '日本'`, ['echo', 'ünïcødé', '日本']],
];

describe('splitCommand', () => {
  for (const [command, expected] of ACCEPTED) {
    it(`splits ${JSON.stringify(command)} as sh does`, () => {
      assert.deepEqual(splitCommand(command), expected);
      assert.deepEqual(shellWords(command), expected, 'the expectation itself must match /bin/sh');
    });
  }

  it('refuses only a command without a word', () => {
    for (const command of ['', '   ', '\n\t']) {
      assert.throws(
        () => splitCommand(command),
        (error: unknown) => error instanceof CommandSyntaxError && /empty/.test(error.message),
      );
    }
  });
});

/** How the Go daemon split `ssh_command`: `strings.Fields`, no quotes, no escapes. */
function goFields(command: string): string[] {
  return command.split(/[\t\n\v\f\r \u0085\u00A0]+/).filter((word) => word !== '');
}

describe('splitCommand on what the Go daemon accepted', () => {
  // Unquoted: the argv Go passed, character for character; the expectation is written out
  // and also checked against Go's whitespace split.
  const AS_GO: Array<[string, string[], string[]]> = [
    [`a | b`, ['a', '|', 'b'], ['"|"']],
    [`a|b`, ['a|b'], ['"|"']],
    [`a && b`, ['a', '&&', 'b'], ['"&"']],
    [`a; b`, ['a;', 'b'], ['";"']],
    [`a > out <in`, ['a', '>', 'out', '<in'], ['">"', '"<"']],
    [`(a)`, ['(a)'], ['"("', '")"']],
    [`a\nb`, ['a', 'b'], []],
    [`echo $HOME`, ['echo', '$HOME'], ['"$"']],
    [`echo \`date\``, ['echo', '`date`'], ['"`"']],
    [`echo ~/bin`, ['echo', '~/bin'], ['a leading "~"']],
    [`echo a # a comment`, ['echo', 'a', '#', 'a', 'comment'], ['a leading "#"']],
    [`FOO=bar prog`, ['FOO=bar', 'prog'], ['a NAME=value prefix']],
    [`if true`, ['if', 'true'], ['the reserved word "if"']],
    [`! prog`, ['!', 'prog'], ['the reserved word "!"']],
    [`ssh builder@cache nix-store --import | logger`, ['ssh', 'builder@cache', 'nix-store', '--import', '|', 'logger'], ['"|"']],
    [`ssh host ~/bin/x $PATH;true`, ['ssh', 'host', '~/bin/x', '$PATH;true'], ['a leading "~"', '"$"', '";"']],
    [`echo abc\\`, ['echo', 'abc\\'], []],
  ];
  for (const [command, expected, syntax] of AS_GO) {
    it(`passes ${JSON.stringify(command)} on as the Go daemon did`, () => {
      assert.deepEqual(goFields(command), expected, 'the expectation itself must be what Go split');
      const parsed = parseCommand(command);
      assert.deepEqual(parsed.words, expected);
      assert.deepEqual(parsed.shellSyntax, syntax);
      assert.deepEqual(parsed.unterminated, []);
    });
  }

  // Quoted: one word where Go sent the pieces with their quote characters.
  const QUOTED: Array<[string, string[], string[]]> = [
    [`ssh host 'a b'`, ['ssh', 'host', 'a b'], ['ssh', 'host', "'a", "b'"]],
    [`ssh h "echo $HOME" '|' x`, ['ssh', 'h', 'echo $HOME', '|', 'x'], ['ssh', 'h', '"echo', '$HOME"', "'|'", 'x']],
  ];
  for (const [command, expected, go] of QUOTED) {
    it(`keeps the quoted words of ${JSON.stringify(command)} together (Go split them)`, () => {
      assert.deepEqual(goFields(command), go);
      assert.deepEqual(splitCommand(command), expected);
    });
  }

  it('keeps an unterminated quote as a literal character, as Go did', () => {
    assert.deepEqual(parseCommand(`echo 'abc d`), {
      words: ['echo', "'abc", 'd'],
      shellSyntax: [],
      unterminated: ['single quote at position 6'],
    });
    assert.deepEqual(parseCommand(`echo "a b`).words, ['echo', '"a', 'b']);
    assert.deepEqual(parseCommand(`echo "a b`).unterminated, ['double quote at position 6']);
  });
});

describe('ssh_command in the config', () => {
  it('loads whatever the Go daemon loaded, warning about shell syntax and naming ssh_shell', () => {
    const base = { storage: { type: 'fs', root: '/tmp' } };
    const go = validateConfig({ ...base, daemon: { enable_ssh_task: true, ssh_command: "ssh host ~/x | logger 'y" } });
    const warnings = configWarnings(go);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0]!, /^daemon\.ssh_command contains shell syntax \(a leading "~", "\|"\) .*daemon\.ssh_shell = true/);
    assert.match(warnings[1]!, /^daemon\.ssh_command has an unterminated single quote at position 23/);
    const withShell = validateConfig({ ...base, daemon: { enable_ssh_task: true, ssh_shell: true, ssh_command: 'a | b' } });
    assert.deepEqual(configWarnings(withShell), []);
    const disabled = validateConfig({ ...base, daemon: { enable_ssh_task: false, ssh_command: 'a | b' } });
    assert.deepEqual(configWarnings(disabled), []);
    const plain = validateConfig({ ...base, daemon: { enable_ssh_task: true, ssh_command: "ssh host 'a | b'" } });
    assert.deepEqual(configWarnings(plain), [], 'quoted operators are not shell syntax');
  });

  it('accepts fractional minutes and the seed integers, and refuses zero', () => {
    const config = validateConfig({
      storage: { type: 'fs', root: '/tmp' },
      daemon: { ssh_debounce_minutes: 1 / 60, ssh_timeout_minutes: 2, ssh_max_wait_minutes: 0.5 },
    });
    assert.equal(config.daemon.ssh_debounce_minutes, 1 / 60);
    assert.equal(config.daemon.ssh_max_retry, 2);
    assert.equal(config.daemon.ssh_shell, false);
    assert.throws(() => validateConfig({ storage: { type: 'fs', root: '/tmp' }, daemon: { ssh_max_wait_minutes: 0 } }), ConfigError);
  });
});
