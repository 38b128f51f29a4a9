/**
 * Seeded, deterministic, Nix-shaped fixtures: `<hash>.narinfo` at the top and
 * `nar/<hash>.nar.xz` below, as a binary cache lays them out. The same seed gives the same
 * names and bytes on every machine, so runs compare. Each fixture is generated once into
 * the work dir and reused while its manifest matches the spec.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type FixtureName = 'small' | 'mixed' | 'large' | 'huge';

export interface ManifestEntry {
  key: string;
  size: number;
  md5: string;
}

export interface Fixture {
  name: FixtureName;
  dir: string;
  files: ManifestEntry[];
  totalBytes: number;
}

const MiB = 1024 * 1024;
const NIX_BASE32 = '0123456789abcdfghijklmnpqrsvwxyz';
/** Bump when the generator changes, so old fixtures are regenerated. */
const GENERATOR_VERSION = 1;

/** mulberry32: a tiny seeded PRNG for names and sizes (the bytes come from AES-CTR). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function stringSeed(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0);
}

function nixHash(random: () => number): string {
  let out = '';
  for (let i = 0; i < 32; i++) out += NIX_BASE32[Math.floor(random() * 32)];
  return out;
}

/** Incompressible bytes (like xz output), deterministic per (seed, name): AES-256-CTR over zeros. */
function randomBytesFor(seed: number, name: string, size: number): Buffer {
  const key = createHash('sha256').update(`${seed}:${name}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

function narinfoText(hash: string, narHash: string, narSize: number, size: number, random: () => number): Buffer {
  const lines = [
    `StorePath: /nix/store/${hash}-package-${Math.floor(random() * 1000)}`,
    `URL: nar/${narHash}.nar.xz`,
    'Compression: xz',
    `FileHash: sha256:${nixHash(random)}${nixHash(random).slice(0, 20)}`,
    `FileSize: ${narSize}`,
    `NarHash: sha256:${nixHash(random)}${nixHash(random).slice(0, 20)}`,
    `NarSize: ${narSize * 3}`,
  ];
  let references = 'References:';
  while (lines.join('\n').length + references.length < size - 120) references += ` ${nixHash(random)}-dep`;
  lines.push(references, `Sig: cache.example.org-1:${nixHash(random)}${nixHash(random)}==`);
  const text = `${lines.join('\n')}\n`;
  // Pad (or cut) to the exact size the spec asks for, keeping it text.
  return Buffer.from(text.length >= size ? text.slice(0, size) : text + '#'.repeat(size - text.length - 1) + '\n');
}

interface FileSpec {
  key: string;
  size: number;
  kind: 'narinfo' | 'nar';
  narHash?: string;
  narSize?: number;
}

/** Sizes of `count` NARs drawn log-normally and scaled so they add up to about `total`. */
function logNormalSizes(random: () => number, count: number, total: number): number[] {
  const weights = Array.from({ length: count }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.exp(1.5 * z);
  });
  const sum = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => Math.max(512, Math.floor((w / sum) * total)));
}

/** The list of files of a fixture (names and sizes), from the seed alone. */
export function fixtureSpec(name: FixtureName, seed: number): FileSpec[] {
  const random = prng(stringSeed(`${seed}:${name}`));
  const pairs = (narSizes: number[], narinfoSize: (i: number) => number): FileSpec[] => {
    const files: FileSpec[] = [];
    narSizes.forEach((narSize, i) => {
      const hash = nixHash(random);
      const narHash = nixHash(random);
      files.push({ key: `${hash}.narinfo`, size: narinfoSize(i), kind: 'narinfo', narHash, narSize });
      files.push({ key: `nar/${narHash}.nar.xz`, size: narSize, kind: 'nar' });
    });
    return files;
  };
  switch (name) {
    case 'small':
      return pairs(new Array<number>(1000).fill(4096), () => 4096);
    case 'mixed': {
      // 250 NARs (two of 64 MiB, the rest log-normal) and their 250 narinfos: ~300 MiB.
      const rest = logNormalSizes(random, 248, 300 * MiB - 128 * MiB - 250 * 1536);
      return pairs([64 * MiB, ...rest.slice(0, 124), 64 * MiB, ...rest.slice(124)], () => 1024 + Math.floor(random() * 1024));
    }
    case 'large': {
      const narHash = nixHash(random);
      return [{ key: `nar/${narHash}.nar.xz`, size: 512 * MiB, kind: 'nar' }];
    }
    case 'huge':
      return pairs(
        Array.from({ length: 50_000 }, () => 256 + Math.floor(random() * 768)),
        () => 400 + Math.floor(random() * 600),
      );
  }
}

async function inPool<T>(items: T[], width: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await task(items[index]!, index);
      }
    }),
  );
}

/** Generates the fixture under `workDir/fixtures/<name>` unless an identical one is there. */
export async function ensureFixture(workDir: string, name: FixtureName, seed: number, log: (line: string) => void): Promise<Fixture> {
  const dir = join(workDir, 'fixtures', name);
  const manifestPath = join(workDir, 'fixtures', `${name}.manifest.json`);
  const specId = `${GENERATOR_VERSION}:${seed}`;
  try {
    const saved = JSON.parse(await readFile(manifestPath, 'utf8')) as { specId: string; files: ManifestEntry[] };
    if (saved.specId === specId) return withTotals(name, dir, saved.files);
  } catch {
    // no manifest yet: generate
  }
  const started = performance.now();
  log(`generating fixture ${name} (seed ${seed})...`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'nar'), { recursive: true });
  const specs = fixtureSpec(name, seed);
  const files: ManifestEntry[] = new Array(specs.length);
  await inPool(specs, 32, async (spec, index) => {
    const bytes =
      spec.kind === 'narinfo'
        ? narinfoText(spec.key.slice(0, 32), spec.narHash!, spec.narSize!, spec.size, prng(stringSeed(`${seed}:${spec.key}`)))
        : randomBytesFor(seed, spec.key, spec.size);
    await writeFile(join(dir, spec.key), bytes);
    files[index] = { key: spec.key, size: bytes.length, md5: createHash('md5').update(bytes).digest('hex') };
  });
  await writeFile(manifestPath, JSON.stringify({ specId, files }));
  log(`fixture ${name}: ${files.length} files in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return withTotals(name, dir, files);
}

function withTotals(name: FixtureName, dir: string, files: ManifestEntry[]): Fixture {
  return { name, dir, files, totalBytes: files.reduce((sum, file) => sum + file.size, 0) };
}

/** Reads every file once so every contender starts with the fixture in the page cache. */
export async function warmPageCache(fixture: Fixture): Promise<void> {
  await inPool(fixture.files, 16, async (file) => {
    await readFile(join(fixture.dir, file.key));
  });
}
