import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hasAllowedPrefix, keyProblem } from '../../src/check/index.js';

/** S3's limit on a key, in bytes. */
const MAX_KEY_BYTES = 1024;

describe('check key validation', () => {
  it('accepts the keys a binary cache uses', () => {
    for (const key of [
      'store/abc.narinfo',
      'store/nar/0a1b2c.nar.xz',
      'store/nix-cache-info',
      'store/with space+plus=sign',
      'store/ünïcode/键',
      'store/.hidden',
      'store/a..b',
      `store/${'x'.repeat(MAX_KEY_BYTES - 6)}`,
    ]) {
      assert.equal(keyProblem(key), undefined, key);
    }
  });

  it('refuses malformed keys with a reason', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /required/],
      [`store/${'x'.repeat(MAX_KEY_BYTES - 5)}`, /longer than 1024 bytes/],
      // 516 characters but 1026 bytes in UTF-8: the limit is in bytes.
      [`store/${'é'.repeat(510)}`, /longer than 1024 bytes/],
      ['/store/x', /must not start with '\/'/],
      ['store\\x', /backslashes/],
      ['store/a\u0000b', /control characters/],
      ['store/a\nb', /control characters/],
      ['store/a\u007fb', /control characters/],
      ['store/a\u0085b', /control characters/],
      ['..', /path traversal/],
      ['store/../etc/passwd', /path traversal/],
      ['store/..', /path traversal/],
      ['store//x', /empty or '\.' segments/],
      ['store/', /empty or '\.' segments/],
      ['store/./x', /empty or '\.' segments/],
      ['./store', /empty or '\.' segments/],
    ];
    for (const [key, reason] of cases) {
      const problem = keyProblem(key);
      assert.ok(problem !== undefined, `${JSON.stringify(key)} is refused`);
      assert.match(problem, reason, JSON.stringify(key));
    }
  });

  it('matches allowed prefixes literally, at the start only', () => {
    assert.equal(hasAllowedPrefix('store/x', ['store/']), true);
    assert.equal(hasAllowedPrefix('nix/x', ['store/', 'nix/']), true);
    assert.equal(hasAllowedPrefix('stores/x', ['store/']), false);
    assert.equal(hasAllowedPrefix('other/store/x', ['store/']), false);
    assert.equal(hasAllowedPrefix('store', ['store/']), false);
  });
});
