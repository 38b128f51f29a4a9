import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { useServers, type RedisServer, type S3Server } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';
import { startFaultProxy, type FaultProxy, type LoggedRequest } from '../helpers/fault-proxy.js';
import { waitForBatch } from '../helpers/batches.js';

function narinfo(hash: string, fields: { url?: string; omit?: string[] } = {}): string {
  const lines: Record<string, string> = {
    StorePath: `/nix/store/${hash}-pkg`,
    URL: fields.url ?? `nar/${hash}.nar.xz`,
    Compression: 'xz',
    NarHash: `sha256:${hash.padEnd(52, '0')}`,
    NarSize: '4096',
  };
  for (const name of fields.omit ?? []) delete lines[name];
  return Object.entries(lines)
    .map(([name, value]) => `${name}: ${value}\n`)
    .join('');
}

/** A binary cache: `count` narinfos, each with its NAR, plus nix-cache-info. */
function cache(count: number): Record<string, string | Buffer> {
  const tree: Record<string, string | Buffer> = { 'nix-cache-info': 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 40\n' };
  for (let index = 0; index < count; index += 1) {
    const hash = `h${index}`;
    tree[`${hash}.narinfo`] = narinfo(hash);
    tree[`nar/${hash}.nar.xz`] = Buffer.alloc(64 * 1024, index);
  }
  return tree;
}

function putOf(puts: LoggedRequest[], key: string): LoggedRequest {
  const found = puts.find((entry) => entry.key === key);
  assert.ok(found, `PUT of ${key}`);
  return found;
}

describe('Nix-aware ordering', () => {
  let redis: RedisServer;
  let s3: S3Server;
  let proxy: FaultProxy;
  useServers((servers) => ({ redis, s3, proxy } = servers), startFaultProxy);

  async function publishCache(
    prefix: string,
    tree: Record<string, string | Buffer>,
    overrides: Record<string, Record<string, unknown>> = {},
  ) {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, tree);
    const daemon = await startApp(
      rawConfig(redis, { ...s3, endpoint: proxy.endpoint }, { daemon: { concurrency: 8 }, ...overrides }, bucket),
    );
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: prefix }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const result = await waitForBatch(daemon, reply.body.batch_id);
      await daemon.idle();
      const puts = proxy.puts().filter((entry) => entry.key.startsWith(prefix));
      return { result, puts, bucket, src };
    } finally {
      await daemon.close();
    }
  }

  it('uploads each narinfo only after its NAR is in the bucket, and nix-cache-info last', async () => {
    proxy.addRule({ method: 'PUT', key: /^ordered\/nar\//, delayMs: 300 });
    const { result, puts } = await publishCache('ordered/', cache(6));
    assert.equal(result.state, 'done');
    assert.equal(result.uploaded_files, 13);
    for (let index = 0; index < 6; index += 1) {
      const nar = putOf(puts, `ordered/nar/h${index}.nar.xz`);
      const info = putOf(puts, `ordered/h${index}.narinfo`);
      assert.ok(info.startSeq > nar.endSeq!, `h${index}.narinfo sent (${info.startSeq}) after its NAR was stored (${nar.endSeq})`);
    }
    const cacheInfo = putOf(puts, 'ordered/nix-cache-info');
    for (const other of puts.filter((entry) => entry !== cacheInfo)) {
      assert.ok(cacheInfo.startSeq > other.endSeq!, `nix-cache-info after ${other.key}`);
    }
    assert.equal(puts.at(-1), cacheInfo, 'nix-cache-info is the last PUT');
  });

  it('without order_narinfo the same publish lands narinfos before their NARs (the test can fail)', async () => {
    proxy.addRule({ method: 'PUT', key: /^unordered\/nar\//, delayMs: 300 });
    const { puts } = await publishCache('unordered/', cache(6), { nix: { order_narinfo: false } });
    const early = Array.from({ length: 6 }, (_, index) => index).filter(
      (index) => putOf(puts, `unordered/h${index}.narinfo`).startSeq < putOf(puts, `unordered/nar/h${index}.nar.xz`).endSeq!,
    );
    assert.ok(early.length > 0, 'some narinfo went first');
  });

  it('never uploads a narinfo whose NAR failed for good, and reports both', async () => {
    proxy.addRule({ method: 'PUT', key: 'failing/nar/h1.nar.xz', fail: 403 });
    const tree = cache(3);
    const { result, puts, bucket, src } = await publishCache('failing/', tree, { publish: { max_retry: 0 } });
    assert.equal(result.state, 'failed');
    assert.deepEqual(result.failed_files, ['failing/h1.narinfo', 'failing/nar/h1.nar.xz']);
    assert.deepEqual(
      result.failures.find((failure: { s3_key: string }) => failure.s3_key === 'failing/h1.narinfo'),
      {
        s3_key: 'failing/h1.narinfo',
        reason: 'NAR failed: failing/nar/h1.nar.xz',
      },
    );
    assert.equal(result.uploaded_files, 5);
    assert.equal(result.items[0].failed_files.length, 2);
    assert.ok(!puts.some((entry) => entry.key === 'failing/h1.narinfo'), 'the narinfo was never sent');
    const keys = await listKeys(s3, bucket);
    assert.ok(!keys.includes('failing/h1.narinfo') && !keys.includes('failing/nar/h1.nar.xz'));
    assert.ok(keys.includes('failing/h0.narinfo') && keys.includes('failing/h2.narinfo'));
    // nix-cache-info still goes (last), once every other file has an outcome.
    assert.equal(puts.at(-1)!.key, 'failing/nix-cache-info');
    assert.ok((await readdir(src)).includes('h1.narinfo'));
  });

  it('does not hold a narinfo whose NAR is not part of the publish', async () => {
    const { result, puts } = await publishCache('elsewhere/', {
      'x.narinfo': narinfo('x', { url: 'nar/not-here.nar.xz' }),
      'y.narinfo': narinfo('y', { url: 'https://mirror.example/nar/y.nar.xz' }),
      'z.narinfo': narinfo('z', { url: '../outside.nar.xz' }),
    });
    assert.equal(result.state, 'done');
    assert.equal(result.uploaded_files, 3);
    assert.equal(puts.length, 3);
  });

  it('validate_narinfo fails narinfos missing required fields with a clear reason', async () => {
    const { result, bucket } = await publishCache(
      'validated/',
      {
        'good.narinfo': narinfo('good', { url: 'https://elsewhere/good.nar' }),
        'bad.narinfo': narinfo('bad', { omit: ['NarHash', 'NarSize'] }),
        'nar/bad.nar.xz': 'nar',
      },
      { nix: { validate_narinfo: true } },
    );
    assert.equal(result.state, 'failed');
    assert.deepEqual(result.failures, [{ s3_key: 'validated/bad.narinfo', reason: 'invalid narinfo: missing NarHash, NarSize' }]);
    assert.deepEqual(await listKeys(s3, bucket), ['validated/good.narinfo', 'validated/nar/bad.nar.xz']);
  });
});
