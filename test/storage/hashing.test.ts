import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { ConsistentBody, digestFile, type FileDigest } from '../../src/storage/hashing.js';
import { IntegrityError, openLocalFile } from '../../src/storage/index.js';
import { tempDir } from '../helpers/daemon.js';

/** Sends `chunks` through a ConsistentBody; resolves with what came out, or rejects. */
async function through(body: ConsistentBody, chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), body, async function* (source) {
    for await (const chunk of source) out.push(chunk as Buffer);
  });
  return Buffer.concat(out);
}

describe('streamed PUT hashing', () => {
  const content = randomBytes(3 * 1024 * 1024 + 17);
  const chunks = [content.subarray(0, 1 << 20), content.subarray(1 << 20, 3 << 20), content.subarray(3 << 20)];
  const md5 = createHash('md5').update(content).digest('hex');

  it('digests a file in one read: its MD5, and its CRC-32 where zlib has one', async () => {
    const dir = await tempDir('hashing');
    await writeFile(join(dir, 'f'), content);
    const digest = await digestFile(await openLocalFile(join(dir, 'f')));
    assert.equal(digest.md5, md5);
    const crc32 = (zlib as { crc32?: (data: Buffer) => number }).crc32;
    assert.equal(digest.crc32, crc32?.(content));
  });

  for (const [label, expected] of [
    ['a digest (CRC-32 re-check)', async () => digestFileOf(content)],
    ['an MD5 alone', async () => md5],
  ] as Array<[string, () => Promise<string | FileDigest>]>) {
    it(`passes unchanged content through whole, checked against ${label}`, async () => {
      const out = await through(new ConsistentBody(await expected(), content.length), chunks);
      assert.ok(out.equals(content));
    });

    it(`fails before the last chunk when the content changed, same size, checked against ${label}`, async () => {
      const changed = Buffer.from(content);
      changed[5] = changed[5]! ^ 1;
      const body = new ConsistentBody(await expected(), content.length);
      const out: Buffer[] = [];
      body.on('data', (chunk: Buffer) => out.push(chunk));
      await assert.rejects(
        pipeline(Readable.from([changed.subarray(0, 1 << 20), changed.subarray(1 << 20)]), body),
        (error: unknown) => error instanceof IntegrityError && /file changed during upload/.test(error.message),
      );
      // The held-back last chunk never left: a server receives a short body, not a torn object.
      assert.ok(Buffer.concat(out).length < content.length);
    });
  }

  it('fails when the file got shorter', async () => {
    await assert.rejects(through(new ConsistentBody(await digestFileOf(content), content.length), chunks.slice(0, 2)), IntegrityError);
  });
});

async function digestFileOf(content: Buffer): Promise<FileDigest> {
  const dir = await tempDir('hashing');
  await writeFile(join(dir, 'f'), content);
  return digestFile(await openLocalFile(join(dir, 'f')));
}
