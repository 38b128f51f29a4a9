import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cacheInfoProblem, cacheRootOf, fileHashMatches, isNarKey, judgeNarinfo } from '../../src/scrub/index.js';

const HASH = 'z3n6ml62lc6l9glpaz6fq7fvi2rks9vq';
// A narinfo as `nix copy --to file://` (Nix 2.8) wrote it.
const NARINFO = `StorePath: /nix/store/${HASH}-a.txt
URL: nar/17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a.nar.xz
Compression: xz
FileHash: sha256:17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a
FileSize: 128
NarHash: sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw
NarSize: 120
References: 
`;

describe('scrub decisions', () => {
  it('reads what a narinfo promises, its NAR resolved against its folder', () => {
    assert.deepEqual(judgeNarinfo(`store/${HASH}.narinfo`, NARINFO), {
      facts: {
        nar: 'store/nar/17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a.nar.xz',
        fileSize: 128,
        fileHash: '17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a',
      },
    });
  });
  it('without FileSize or FileHash: nothing to check, no problem', () => {
    const text = NARINFO.replace(/^File(Size|Hash):.*\n/gm, '');
    assert.deepEqual(judgeNarinfo(`${HASH}.narinfo`, text), {
      facts: { nar: 'nar/17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a.nar.xz' },
    });
  });
  it('flags missing fields, absolute or escaping URLs, bad sizes and a StorePath of another hash', () => {
    const kind = (key: string, text: string) => {
      const verdict = judgeNarinfo(key, text);
      return 'problem' in verdict ? verdict.problem : 'ok';
    };
    assert.equal(kind(`${HASH}.narinfo`, 'garbage'), 'unparsable_narinfo');
    assert.equal(kind(`${HASH}.narinfo`, NARINFO.replace(/^NarHash:.*\n/m, '')), 'unparsable_narinfo');
    assert.equal(kind(`${HASH}.narinfo`, NARINFO.replace(/^URL: .*$/m, 'URL: https://elsewhere/x.nar')), 'unparsable_narinfo');
    assert.equal(kind(`${HASH}.narinfo`, NARINFO.replace(/^URL: .*$/m, 'URL: ../../x.nar')), 'unparsable_narinfo');
    assert.equal(kind(`${HASH}.narinfo`, NARINFO.replace('FileSize: 128', 'FileSize: lots')), 'unparsable_narinfo');
    assert.equal(kind(`${HASH}.narinfo`, `${NARINFO}\u0000`), 'unparsable_narinfo');
    assert.equal(kind('0000000000000000000000000000000z.narinfo', NARINFO), 'store_path_mismatch');
  });
  it('takes a nix-cache-info with an absolute StoreDir only', () => {
    assert.equal(cacheInfoProblem('StoreDir: /nix/store\nWantMassQuery: 1\n'), undefined);
    assert.match(cacheInfoProblem('WantMassQuery: 1\n')!, /no StoreDir/);
    assert.match(cacheInfoProblem('StoreDir: nix/store\n')!, /absolute/);
  });
  it('knows NAR keys and cache roots', () => {
    for (const key of ['nar/x.nar', 'nar/x.nar.xz', 'nar/x.nar.zst', 'a/nar/x.nar.bz2']) assert.equal(isNarKey(key), true, key);
    for (const key of ['x.narinfo', 'nix-cache-info', 'log/x.drv', 'nar/x.ls']) assert.equal(isNarKey(key), false, key);
    assert.equal(cacheRootOf(''), '');
    assert.equal(cacheRootOf('store/'), 'store/');
    assert.equal(cacheRootOf('store/ab'), 'store/');
  });
  it('compares FileHash in Nix base-32 or hex', () => {
    // sha256("") in both encodings (nix-hash --to-base32).
    const empty = Buffer.from('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex');
    assert.equal(fileHashMatches('0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73', empty), true);
    assert.equal(fileHashMatches('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', empty), true);
    assert.equal(fileHashMatches('1mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73', empty), false);
  });
});
