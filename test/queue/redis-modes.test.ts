/**
 * The Redis deployments the daemon supports and this machine can run: TLS with an ACL
 * user (a `rediss://` URL) and a local three-node Redis Cluster.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Cluster } from 'ioredis';
import { startRedis, waitFor, type RedisServer } from '../helpers/servers.js';
import { rawConfig, startApp, tempDir, uniqueName, writeTree } from '../helpers/daemon.js';

function makeCertificates(dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca', '-keyout', 'ca.key', '-out', 'ca.crt');
  run('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', 'server.key', '-out', 'server.csr');
  const ext = join(dir, 'ext.cnf');
  execFileSync('sh', ['-c', `printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ${ext}`]);
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    'server.crt',
  );
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

async function publishAndWait(raw: ReturnType<typeof rawConfig>, files: number) {
  const src = await tempDir();
  const tree: Record<string, string> = {};
  for (let i = 0; i < files; i += 1) tree[`f${i}.txt`] = `file ${i}`;
  await writeTree(src, tree);
  const daemon = await startApp(raw);
  try {
    const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    await daemon.idle();
    const bucketRoot = raw.storage!.root as string;
    for (let i = 0; i < files; i += 1) assert.equal(await readFile(join(bucketRoot, 'store', `f${i}.txt`), 'utf8'), `file ${i}`);
  } finally {
    await daemon.close();
  }
}

describe('redis deployments', () => {
  const servers: RedisServer[] = [];
  after(async () => {
    await Promise.all(servers.map((server) => server.destroy()));
  });

  it('connects over TLS with a username and password from a rediss:// URL', async () => {
    const certs = makeCertificates(await tempDir('tls'));
    const redis = await startRedis({
      tls: certs,
      args: ['--user', 'default', 'off', '--user', 'queue', 'on', '>queue-password-1', '~*', '&*', '+@all'],
    });
    servers.push(redis);
    const raw = rawConfig(redis, undefined, {
      redis: { addr: `rediss://queue:queue-password-1@127.0.0.1:${redis.port}/0`, tls_ca_file: certs.ca },
      storage: { type: 'fs', root: await tempDir('bucket') },
    });
    await publishAndWait(raw, 5);
  });

  it('works on a three-node Redis Cluster with a hash-tagged prefix', async () => {
    const nodes: RedisServer[] = [];
    for (let i = 0; i < 3; i += 1) {
      const dir = await tempDir('cluster');
      nodes.push(await startRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf')] }));
    }
    servers.push(...nodes);
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((node) => node.addr), '--cluster-replicas', '0', '--cluster-yes'], {
      stdio: 'ignore',
    });
    const probe = new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port })));
    try {
      await waitFor(async () => /cluster_state:ok/.test(String(await probe.cluster('INFO'))), { what: 'cluster to form' });
    } finally {
      probe.disconnect();
    }
    const raw = rawConfig(nodes[0]!, undefined, {
      redis: { cluster_nodes: nodes.map((node) => node.addr), key_prefix: `{${uniqueName('c')}}` },
      storage: { type: 'fs', root: await tempDir('bucket') },
    });
    await publishAndWait(raw, 20);
  });
});
