import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type RedisServer, type S3Server, useServers } from '../helpers/servers.js';
import { createBucket, getObject, headObject, listKeys, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';

describe('POST /publish to S3', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('uploads a nested folder with symlinks under exact keys, bytes and content types', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const outside = await tempDir('outside');
    await writeTree(src, {
      'abc.narinfo': 'StorePath: /nix/store/abc\nURL: nar/abc.nar.xz\n',
      'nix-cache-info': 'StoreDir: /nix/store\n',
      'nar/abc.nar.xz': Buffer.alloc(3000, 7),
      'lib/deep/libc.so.6': 'ELF',
      'readme.txt': 'hello',
    });
    await writeFile(join(outside, 'target.bin'), 'linked content');
    await symlink(join(outside, 'target.bin'), join(src, 'lib', 'link.bin'));
    await symlink(src, join(src, 'lib', 'loop')); // a directory cycle: must not loop

    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.success, true);
      assert.equal(reply.body.message, 'file sync tasks published successfully');
      assert.equal(reply.body.total_files, 6);
      await daemon.idle();

      assert.deepEqual(await listKeys(s3, bucket), [
        'store/abc.narinfo',
        'store/lib/deep/libc.so.6',
        'store/lib/link.bin',
        'store/nar/abc.nar.xz',
        'store/nix-cache-info',
        'store/readme.txt',
      ]);
      const narinfo = await getObject(s3, bucket, 'store/abc.narinfo');
      assert.equal(narinfo.contentType, 'text/x-nix-narinfo');
      assert.equal(narinfo.body.toString(), 'StorePath: /nix/store/abc\nURL: nar/abc.nar.xz\n');
      const nar = await getObject(s3, bucket, 'store/nar/abc.nar.xz');
      assert.equal(nar.contentType, 'application/x-nix-archive');
      assert.deepEqual(nar.body, Buffer.alloc(3000, 7));
      assert.equal((await getObject(s3, bucket, 'store/nix-cache-info')).contentType, 'text/x-nix-cache-info');
      assert.equal((await getObject(s3, bucket, 'store/readme.txt')).contentType, 'text/plain');
      assert.equal((await getObject(s3, bucket, 'store/lib/link.bin')).body.toString(), 'linked content');
    } finally {
      await daemon.close();
    }
  });

  it('publishes a single file to a key, to a folder key, and a folder to the bucket root', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'single.txt': 'one', 'tree/a.txt': 'a', 'tree/sub/b.txt': 'b' });
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      const reply = await daemon.post('/publish', [
        { from: join(src, 'single.txt'), to: 'store/file.txt' },
        { from: join(src, 'single.txt'), to: 'other/' },
        { from: join(src, 'tree'), to: '/' },
        { from: join(src, 'tree'), to: 'windows\\style\\' },
      ]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      assert.equal(reply.body.total_files, 6);
      await daemon.idle();
      assert.deepEqual(await listKeys(s3, bucket), [
        'a.txt',
        'other/single.txt',
        'store/file.txt',
        'sub/b.txt',
        'windows/style/a.txt',
        'windows/style/sub/b.txt',
      ]);
    } finally {
      await daemon.close();
    }
  });

  it('skips files of the same size, and re-uploads them with overwrite', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'a.txt': 'version-1' });
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      await writeFile(join(src, 'a.txt'), 'version-2'); // same size, new content
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/a.txt')).body.toString(), 'version-1', 'same size: skipped');

      await daemon.post('/publish', [{ from: src, to: 'store/', overwrite: true }]);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/a.txt')).body.toString(), 'version-2', 'overwrite: uploaded');

      await writeFile(join(src, 'a.txt'), 'version-three'); // different size
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/a.txt')).body.toString(), 'version-three', 'size differs: uploaded');
    } finally {
      await daemon.close();
    }
  });

  it('delete_after_sync removes uploaded files and empty folders, never the published folder', async () => {
    const bucket = await createBucket(s3);
    const parent = await tempDir();
    const src = join(parent, 'cache');
    await writeTree(src, { 'x.narinfo': 'x', 'nar/x.nar.xz': 'xx', 'deep/er/f.txt': 'f' });
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      assert.equal(reply.body.total_files, 3);
      await daemon.idle();
      assert.equal((await listKeys(s3, bucket)).length, 3);
      assert.deepEqual(await readdir(src), [], 'files and emptied sub-folders are gone');
      assert.ok((await stat(src)).isDirectory(), 'the published folder itself stays');
      assert.deepEqual(await readdir(parent), ['cache'], 'its parent is untouched');
    } finally {
      await daemon.close();
    }
  });

  it('delete_after_sync on a same-size skip deletes only when the content matches', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'same.txt': 'content-A', 'differs.txt': 'content-B' });
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      await daemon.idle();
      await writeFile(join(src, 'differs.txt'), 'content-C'); // same size, other bytes
      await daemon.post('/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      await daemon.idle();
      assert.deepEqual(await readdir(src), []);
      // The size-only match was re-uploaded before its local copy went away.
      assert.equal((await getObject(s3, bucket, 'store/differs.txt')).body.toString(), 'content-C');
    } finally {
      await daemon.close();
    }
  });

  it('deletes a symlink itself, never its target', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    const outside = await tempDir('outside');
    await writeFile(join(outside, 'target.txt'), 'keep me');
    await mkdir(join(src, 'sub'));
    await symlink(join(outside, 'target.txt'), join(src, 'sub', 'link.txt'));
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      await daemon.post('/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      await daemon.idle();
      assert.equal((await getObject(s3, bucket, 'store/sub/link.txt')).body.toString(), 'keep me');
      assert.deepEqual(await readdir(src), []);
      assert.deepEqual(await readdir(outside), ['target.txt']);
      assert.ok(await headObject(s3, bucket, 'store/sub/link.txt'));
    } finally {
      await daemon.close();
    }
  });
});
