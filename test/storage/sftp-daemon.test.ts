/**
 * The daemon with `storage.type = "sftp"` against a real OpenSSH server: a Nix cache with a
 * 200 MiB NAR published with delete_after_sync (byte-exact, narinfos after their NARs by
 * the server's file times, nothing left locally), /readyz, the host-key checks at start,
 * and scrub's repair (its quarantine copy). Faults (kill -9, server outage) are in
 * sftp-faults.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createApp } from '../../src/app.js';
import { validateConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { waitFor, type RedisServer } from '../helpers/servers.js';
import { filesBelow, md5OfPath, sftpConfig, useRedisAndSshd } from './sftp-setup.js';
import { rawConfig, startApp, tempDir, uniqueName, writeTree, request } from '../helpers/daemon.js';
import { waitForBatch } from '../helpers/batches.js';
import type { SshServer } from '../helpers/sshd.js';

const MiB = 1024 * 1024;
let redis: RedisServer;
let server: SshServer;

useRedisAndSshd((servers) => ({ redis, server } = servers));

function narinfo(hash: string): string {
  return `StorePath: /nix/store/${hash}-pkg\nURL: nar/${hash}.nar.xz\nCompression: xz\nNarHash: sha256:${hash.padEnd(52, '0')}\nNarSize: 4096\n`;
}

describe('daemon with SFTP storage', () => {
  it('publishes a Nix cache and a 200 MiB NAR byte-exact, narinfos after their NARs, deleting the local copies', async () => {
    const prefix = uniqueName('cache');
    const tree: Record<string, Buffer> = { 'nix-cache-info': Buffer.from('StoreDir: /nix/store\nPriority: 40\n') };
    for (let index = 0; index < 249; index += 1) {
      tree[`h${index}.narinfo`] = Buffer.from(narinfo(`h${index}`));
      tree[`nar/h${index}.nar.xz`] = randomBytes(1024 + index * 37);
    }
    tree['big.narinfo'] = Buffer.from(narinfo('big'));
    const src = await tempDir();
    await writeTree(src, tree);
    const big = randomBytes(200 * MiB);
    await writeFile(join(src, 'nar/big.nar.xz'), big);
    const bigMd5 = createHash('md5').update(big).digest('hex');
    const daemon = await startApp(rawConfig(redis, undefined, sftpConfig(server)));
    try {
      assert.equal((await daemon.get('/readyz')).status, 200);
      const reply = await daemon.post('/publish', [{ from: src, to: `${prefix}/`, delete_after_sync: true }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      const result = await waitForBatch(daemon, reply.body.batch_id, 80_000);
      assert.equal(result.state, 'done', JSON.stringify(result));
      assert.equal(result.uploaded_files, 501);
    } finally {
      await daemon.close();
    }
    const remote = join(server.root, prefix);
    assert.deepEqual((await filesBelow(remote)).sort(), [...Object.keys(tree), 'nar/big.nar.xz'].sort(), 'no temporary file left');
    for (const [key, content] of Object.entries(tree)) assert.ok((await readFile(join(remote, key))).equals(content), key);
    assert.equal(await md5OfPath(join(remote, 'nar/big.nar.xz')), bigMd5);
    const mtime = async (key: string) => (await stat(join(remote, key))).mtimeMs;
    for (const hash of ['big', 'h0', 'h100', 'h248']) {
      assert.ok((await mtime(`${hash}.narinfo`)) >= (await mtime(`nar/${hash}.nar.xz`)), `${hash}.narinfo written after its NAR`);
    }
    const cacheInfo = await mtime('nix-cache-info');
    for (const key of Object.keys(tree)) assert.ok(cacheInfo >= (await mtime(key)), `nix-cache-info after ${key}`);
    assert.deepEqual(await filesBelow(src), [], 'delete_after_sync left nothing local');
  });

  it('warns at start when host keys are ignored, and refuses an unknown host otherwise', async () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'warn', write: (line) => void lines.push(line) });
    const insecure = validateConfig(
      rawConfig(redis, undefined, sftpConfig(server, { known_hosts: join(server.root, 'none'), insecure_ignore_host_key: true })),
    );
    const app = createApp(insecure, { log, listen: { host: '127.0.0.1', port: 0 } });
    await app.start();
    try {
      assert.ok(
        lines.some((line) => /insecure_ignore_host_key/.test(line) && /level=warn/.test(line)),
        lines.join(''),
      );
      assert.equal((await request(app.url, 'GET', '/readyz')).status, 200);
    } finally {
      await app.close();
    }
    const strict = await startApp(rawConfig(redis, undefined, sftpConfig(server, { known_hosts: join(server.root, 'none') })));
    try {
      const ready = await strict.get('/readyz');
      assert.equal(ready.status, 503);
    } finally {
      await strict.close();
    }
  });

  it('scrub --repair quarantines a narinfo whose NAR is missing (SFTP copies by reading and writing back)', async () => {
    const prefix = uniqueName('scrubbed');
    // Store hashes in Nix's base-32 alphabet: scrub checks that a narinfo's key names its store path.
    const good = 'g'.repeat(32);
    const bad = 'b'.repeat(32);
    const remote = join(server.root, prefix);
    await writeTree(remote, {
      'nix-cache-info': 'StoreDir: /nix/store\n',
      [`${good}.narinfo`]: narinfo(good),
      [`nar/${good}.nar.xz`]: randomBytes(4096),
      [`${bad}.narinfo`]: narinfo(bad),
    });
    const daemon = await startApp(rawConfig(redis, undefined, sftpConfig(server)));
    try {
      const started = await daemon.post('/scrub', { prefix: `${prefix}/`, repair: true });
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const status = await waitFor(
        async () => {
          const reply = await daemon.get(`/scrubs/${started.body.scrub_id}`);
          return reply.body.state === 'done' ? reply.body : undefined;
        },
        { timeoutMs: 60_000, what: 'scrub to finish' },
      );
      const { problems, actions } = status.result as {
        problems: Array<{ kind: string; key: string }>;
        actions: Array<{ action: string; key: string; to?: string }>;
      };
      assert.deepEqual(
        problems.map((problem) => [problem.kind, problem.key]),
        [['missing_nar', `${prefix}/${bad}.narinfo`]],
      );
      const quarantined = actions.find((action) => action.action === 'quarantined');
      assert.ok(quarantined?.to?.startsWith('_quarantine/'), JSON.stringify(actions));
      assert.ok(
        actions.some((action) => action.action === 'removed' && action.key === `${prefix}/${bad}.narinfo`),
        JSON.stringify(actions),
      );
      assert.equal(await readFile(join(server.root, quarantined!.to!), 'utf8'), narinfo(bad), 'the quarantined copy holds the narinfo');
      await assert.rejects(stat(join(remote, `${bad}.narinfo`)), { code: 'ENOENT' });
      assert.equal(await readFile(join(remote, `${good}.narinfo`), 'utf8'), narinfo(good), 'a healthy narinfo is left alone');
    } finally {
      await daemon.close();
    }
  });
});
