import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isNarinfo, isNixCacheInfo, missingNarinfoFields, narPathOf, parseNarinfo, readNarinfo } from '../../src/nix/index.js';
import { tempDir } from '../helpers/daemon.js';

const NARINFO = `StorePath: /nix/store/abc-hello
URL: nar/0abc.nar.xz
Compression: xz
NarHash: sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s
NarSize: 226552
References: abc-hello
`;

describe('narinfo', () => {
  it('parses fields, first occurrence winning, values trimmed', () => {
    const fields = parseNarinfo(`${NARINFO}URL: other\nnot a field\n`);
    assert.equal(fields.get('URL'), 'nar/0abc.nar.xz');
    assert.equal(fields.get('NarSize'), '226552');
    assert.deepEqual(missingNarinfoFields(fields), []);
  });

  it('names every missing or empty required field', () => {
    assert.deepEqual(missingNarinfoFields(parseNarinfo('StorePath: /nix/store/x\nNarHash:\n')), ['URL', 'NarHash', 'NarSize']);
  });

  it('takes only relative URLs as NAR paths', () => {
    assert.equal(narPathOf('nar/x.nar.xz'), 'nar/x.nar.xz');
    assert.equal(narPathOf('nar/x.nar.xz?v=1'), 'nar/x.nar.xz');
    for (const url of ['https://cache.example/nar/x.nar', '/abs/x.nar', 'file:x', '', 'a\u0000b'])
      assert.equal(narPathOf(url), undefined, url);
  });

  it('reads at most 64 KiB, dropping a cut-off last line', async () => {
    const dir = await tempDir('narinfo');
    const path = join(dir, 'big.narinfo');
    await writeFile(path, `${NARINFO}Sig: ${'s'.repeat(70 * 1024)}\n`);
    const fields = await readNarinfo(path);
    assert.equal(fields.get('StorePath'), '/nix/store/abc-hello');
    assert.equal(fields.has('Sig'), false);
  });

  it('recognises Nix file roles by base name', () => {
    assert.ok(isNarinfo('store/abc.narinfo'));
    assert.ok(!isNarinfo('store/abc.narinfo.bak'));
    assert.ok(isNixCacheInfo('store/nix-cache-info'));
    assert.ok(isNixCacheInfo('nix-cache-info'));
    assert.ok(!isNixCacheInfo('store/nix-cache-info.old'));
  });
});
