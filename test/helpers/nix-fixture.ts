/** Shared set-up of the fault tests (faults/, test/storage-servers/): a Nix-shaped fixture and a verdict on what landed. */
import { createHash, randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { getObject, listKeys, tempDir, writeTree } from './daemon.js';
import type { S3Server } from './servers.js';

export interface Fixture {
  root: string;
  /** relative path -> MD5 of its content */
  files: Map<string, string>;
}

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** `count` files: narinfos at the top, `nar/*.nar.xz` below, random content. */
export async function nixFixture(count: number, size = 4096): Promise<Fixture> {
  const root = await tempDir('fault');
  const contents: Record<string, Buffer> = {};
  const files = new Map<string, string>();
  for (let i = 0; i < count; i += 1) {
    const hash = createHash('sha1').update(String(i)).digest('hex').slice(0, 32);
    const path = i % 2 === 0 ? `${hash}.narinfo` : `nar/${hash}.nar.xz`;
    const content = randomBytes(size);
    contents[path] = content;
    files.set(path, md5(content));
  }
  await writeTree(root, contents);
  return { root, files };
}

export interface Verdict {
  expected: number;
  verified: number;
  lost: number;
  /** Local files deleted although their object is not exact (must be 0). */
  deletedWithoutCopy: number;
}

/** Checks every file of the fixture against the bucket, byte for byte (by MD5), 16 reads at a time. */
export async function verify(s3: S3Server, bucket: string, fixture: Fixture, prefix: string): Promise<Verdict> {
  const present = new Set(await listKeys(s3, bucket));
  let verified = 0;
  let deletedWithoutCopy = 0;
  const files = [...fixture.files];
  const check = async ([path, digest]: [string, string]) => {
    const key = prefix + path;
    const exact = present.has(key) && md5((await getObject(s3, bucket, key)).body) === digest;
    if (exact) verified += 1;
    const localExists = await access(join(fixture.root, path)).then(
      () => true,
      () => false,
    );
    if (!localExists && !exact) deletedWithoutCopy += 1;
  };
  const reader = async () => {
    for (let next = files.shift(); next !== undefined; next = files.shift()) await check(next);
  };
  await Promise.all(Array.from({ length: 16 }, reader));
  const expected = fixture.files.size;
  return { expected, verified, lost: expected - verified, deletedWithoutCopy };
}

export function report(name: string, verdict: Verdict): void {
  process.stdout.write(
    `# fault ${name}: files expected ${verdict.expected}, verified ${verdict.verified}, lost ${verdict.lost}, deleted without exact copy ${verdict.deletedWithoutCopy}\n`,
  );
}

/** The upload queue, read straight from Redis (close it after use). */
export function uploadQueue(redisAddr: string, prefix: string): Queue {
  const [host, port] = redisAddr.split(':');
  return new Queue('uploads', { connection: { host, port: Number(port) }, prefix });
}
