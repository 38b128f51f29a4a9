import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { keyForFolderFile, keyForSingleFile, normalizeTarget, targetProblem } from '../../src/publish/index.js';
import { contentTypeFor, shouldUpload } from '../../src/sync/index.js';
import { toLogfmt } from '../../src/log/index.js';

describe('path mapping', () => {
  it('maps folder files as the seed examples', () => {
    assert.equal(keyForFolderFile('store/', 'bin/bash'), 'store/bin/bash');
    assert.equal(keyForFolderFile('store/', 'lib/libc.so.6'), 'store/lib/libc.so.6');
    assert.equal(keyForFolderFile('store', 'a.txt'), 'store/a.txt');
    assert.equal(keyForFolderFile('/', 'a.narinfo'), 'a.narinfo');
  });
  it('maps single files', () => {
    assert.equal(keyForSingleFile('store/file.txt', '/data/single-file.txt'), 'store/file.txt');
    assert.equal(keyForSingleFile('store/', '/data/single-file.txt'), 'store/single-file.txt');
    assert.equal(keyForSingleFile('/', '/data/nix-cache-info'), 'nix-cache-info');
  });
  it('turns backslashes into slashes and refuses unsafe targets', () => {
    assert.equal(normalizeTarget('store\\sub\\'), 'store/sub/');
    assert.equal(targetProblem('store/'), undefined);
    assert.equal(targetProblem('/'), undefined);
    assert.match(targetProblem('/etc')!, /relative/);
    assert.match(targetProblem('a/../b')!, /\.\./);
    assert.match(targetProblem('a\u0000b')!, /control/);
    assert.match(targetProblem('x'.repeat(1025))!, /1024/);
  });
});

describe('upload decision', () => {
  it('follows the seed: overwrite forces, missing or other size uploads, same size skips', () => {
    assert.equal(shouldUpload({ size: 5 }, 5, true), true);
    assert.equal(shouldUpload(null, 5, false), true);
    assert.equal(shouldUpload({ size: 4 }, 5, false), true);
    assert.equal(shouldUpload({ size: 5 }, 5, false), false);
  });
  it('types Nix cache files', () => {
    assert.equal(contentTypeFor('store/abc.narinfo'), 'text/x-nix-narinfo');
    assert.equal(contentTypeFor('store/nar/abc.nar.xz'), 'application/x-nix-archive');
    assert.equal(contentTypeFor('nar/abc.nar.zst'), 'application/x-nix-archive');
    assert.equal(contentTypeFor('nar/abc.nar'), 'application/x-nix-archive');
    assert.equal(contentTypeFor('nix-cache-info'), 'text/x-nix-cache-info');
    assert.equal(contentTypeFor('a/index.html'), 'text/html');
    assert.equal(contentTypeFor('a/noext'), 'application/octet-stream');
  });
});

describe('logfmt', () => {
  it('renders pino records as logfmt with quoting', () => {
    const line = toLogfmt({ level: 30, time: 0, msg: 'file uploaded', s3_key: 'store/a b', size: 3, ok: true, err: 'x="y"' });
    assert.equal(line, 'time=1970-01-01T00:00:00.000Z level=info msg="file uploaded" s3_key="store/a b" size=3 ok=true err="x=\\"y\\""');
  });
});
