import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { splitCommand, CommandSyntaxError } from '../../src/hooks/index.js';
import { validateConfig, ConfigError } from '../../src/config/index.js';

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
  [`echo a # a comment | with ; operators`, ['echo', 'a']],
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

  const REFUSED: Array<[string, RegExp]> = [
    [``, /empty/],
    [`   `, /empty/],
    [`# only a comment`, /empty/],
    [`echo 'abc`, /unterminated single quote at position 6/],
    [`echo "abc`, /unterminated double quote/],
    [`echo abc\\`, /lone backslash/],
    [`a | b`, /"\|" at position 3 is a shell operator.*ssh_shell/],
    [`a|b`, /operator/],
    [`a && b`, /operator/],
    [`a; b`, /operator/],
    [`a > out`, /operator/],
    [`a <in`, /operator/],
    [`(a)`, /operator/],
    [`a\nb`, /a newline .* operator/],
    [`echo $HOME`, /"\$" at position 6 would expand/],
    [`echo "$HOME"`, /would expand inside double quotes/],
    [`echo \`date\``, /would expand/],
    [`echo "\`date\`"`, /would expand inside double quotes/],
    [`echo ~/bin`, /leading "~"/],
    [`FOO=bar prog`, /NAME=value prefix.*"env FOO=bar/],
    [`if true`, /shell syntax/],
    [`! prog`, /shell syntax/],
  ];
  for (const [command, message] of REFUSED) {
    it(`refuses ${JSON.stringify(command)}`, () => {
      assert.throws(
        () => splitCommand(command),
        (error: unknown) => error instanceof CommandSyntaxError && message.test(error.message),
      );
    });
  }
});

describe('ssh_command in the config', () => {
  it('is checked when enabled, named in the error, and left alone with ssh_shell or when disabled', () => {
    assert.throws(
      () => validateConfig({ storage: { type: 'fs', root: '/tmp' }, daemon: { enable_ssh_task: true, ssh_command: "ssh host 'x" } }),
      (error: unknown) =>
        error instanceof ConfigError && error.problems.some((p) => /^daemon\.ssh_command: unterminated single quote/.test(p)),
    );
    const withShell = validateConfig({
      storage: { type: 'fs', root: '/tmp' },
      daemon: { enable_ssh_task: true, ssh_shell: true, ssh_command: 'a | b' },
    });
    assert.equal(withShell.daemon.ssh_command, 'a | b');
    const disabled = validateConfig({ storage: { type: 'fs', root: '/tmp' }, daemon: { enable_ssh_task: false, ssh_command: 'a | b' } });
    assert.equal(disabled.daemon.enable_ssh_task, false);
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
