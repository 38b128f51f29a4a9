import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isNixBase32, nixBase32 } from '../../src/nix/index.js';

// Expected values printed by the real Nix 2.8: `nix-hash --type <algo> --to-base32 <hex>`.
const CASES: Array<[string, 'sha256' | 'md5' | 'sha1', string]> = [
  ['', 'sha256', '0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73'],
  ['a', 'sha256', '1fs8xspqaxw0p5r4wz0lz3pqd9sdvhirmcriqbxcmg8vr89835ya'],
  ['hello world', 'sha256', '1sfdxziarxw8j3p80lvswgpq9i7smdyxmmsj5sjhhgjdjfwjfkdr'],
  ['abc', 'md5', '3jgzhjhz9zjvbb0kyj7jc500ch'],
  ['abc', 'sha1', 'kpcd173cq987hw957sx6m0868wv3x6d9'],
];

describe('nix base-32', () => {
  for (const [input, algorithm, expected] of CASES) {
    it(`encodes ${algorithm}(${JSON.stringify(input)}) as nix-hash does`, () => {
      assert.equal(nixBase32(createHash(algorithm).update(input).digest()), expected);
    });
  }
  it('tells its alphabet apart (no e, o, u, t)', () => {
    assert.equal(isNixBase32('0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73'), true);
    assert.equal(isNixBase32('0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e'), false);
  });
});
