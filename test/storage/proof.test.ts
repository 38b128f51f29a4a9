/**
 * Proof of a stored object on servers whose answers are not s3rver's: an empty ETag to
 * CompleteMultipartUpload (Ceph RGW), ETags that are no MD5 (AWS SSE-KMS), multipart
 * ETags composed another way (R2), a checksum echoed back (AWS flexible checksums). A
 * small S3-shaped HTTP server plays each of them (none of those servers runs here; RGW
 * itself is in test/storage-servers/); the daemon's own reaction is checked end to end.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { createS3Storage, IntegrityError, openLocalFile, UnprovenUploadError } from '../../src/storage/index.js';
import { encryptedReply, judgeStored } from '../../src/storage/proof.js';
import { s3ErrorFromReply } from '../../src/storage/s3-http.js';
import { startRedis, type RedisServer } from '../helpers/servers.js';
import { rawConfig, startApp, tempDir, writeTree } from '../helpers/daemon.js';

const KiB = 1024;
const md5Hex = (data: Buffer) => createHash('md5').update(data).digest('hex');

interface Personality {
  /** The ETag of a single PUT or a part, given its body. */
  etag(body: Buffer): string;
  /** The ETag CompleteMultipartUpload answers, given the parts' bodies. */
  completeEtag(parts: Buffer[]): string;
  /** The ETag a HEAD shows of a completed multipart object. */
  headEtag(parts: Buffer[]): string;
  extraHeaders?: Record<string, string>;
  echoChecksum?: boolean;
}

const composite = (parts: Buffer[]) =>
  `${md5Hex(Buffer.concat(parts.map((part) => createHash('md5').update(part).digest())))}-${parts.length}`;
const fakeMd5 = (body: Buffer) => md5Hex(Buffer.concat([Buffer.from('not the content'), body]));

const personalities: Record<string, Personality> = {
  // Ceph RGW 16: right ETags everywhere but in the Complete reply
  rgw: { etag: md5Hex, completeEtag: () => '', headEtag: composite },
  // AWS with SSE-KMS: ETags are 32 hex digits, but no MD5 of the content
  kms: {
    etag: fakeMd5,
    completeEtag: (parts) => `${fakeMd5(parts[0]!)}-${parts.length}`,
    headEtag: (parts) => `${fakeMd5(parts[0]!)}-${parts.length}`,
    extraHeaders: { 'x-amz-server-side-encryption': 'aws:kms' },
  },
  // R2: single and part ETags are MD5s; the multipart ETag is its own
  r2: {
    etag: md5Hex,
    completeEtag: (parts) => `${fakeMd5(parts[0]!)}-${parts.length}`,
    headEtag: (parts) => `${fakeMd5(parts[0]!)}-${parts.length}`,
  },
  // a server whose ETags mean nothing, and says nothing more
  opaque: { etag: () => 'v1-opaque', completeEtag: () => 'v1-opaque', headEtag: () => 'v1-opaque' },
  // the same, but it verifies and echoes flexible checksums
  checksums: { etag: () => 'v1-opaque', completeEtag: () => 'v1-opaque', headEtag: () => 'v1-opaque', echoChecksum: true },
  // checks no digest, and the body was corrupted on the way
  corrupting: {
    etag: fakeMd5,
    completeEtag: () => '',
    headEtag: (parts) => composite(parts.map((part) => Buffer.concat([part, Buffer.from('x')]))),
  },
};

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
}

/** An S3-shaped server (path style, one bucket) answering as `personality`; keeps objects' sizes. */
async function fakeS3(personality: Personality) {
  const seen: Seen[] = [];
  const uploads = new Map<string, Buffer[]>();
  const objects = new Map<string, { size: number; etag: string }>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(request.url ?? '/', 'http://x');
      const key = url.pathname;
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
      const extra = personality.extraHeaders ?? {};
      const reply = (status: number, headers: Record<string, string> = {}, xml = '') =>
        response.writeHead(status, { ...extra, ...headers, 'Content-Length': String(Buffer.byteLength(xml)) }).end(xml);
      if (request.method === 'POST' && url.searchParams.has('uploads')) {
        const id = `u${uploads.size + 1}`;
        uploads.set(id, []);
        return reply(200, {}, `<InitiateMultipartUploadResult><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
      }
      if (request.method === 'PUT' && url.searchParams.has('partNumber')) {
        uploads.get(url.searchParams.get('uploadId')!)![Number(url.searchParams.get('partNumber')) - 1] = body;
        return reply(200, { ETag: `"${personality.etag(body)}"` });
      }
      if (request.method === 'POST' && url.searchParams.has('uploadId')) {
        const parts = uploads.get(url.searchParams.get('uploadId')!)!;
        objects.set(key, { size: parts.reduce((sum, part) => sum + part.length, 0), etag: personality.headEtag(parts) });
        const etag = personality.completeEtag(parts);
        return reply(
          200,
          {},
          `<CompleteMultipartUploadResult><Key>${key}</Key><ETag>${etag === '' ? '' : `"${etag}"`}</ETag></CompleteMultipartUploadResult>`,
        );
      }
      if (request.method === 'DELETE') return reply(204);
      if (request.method === 'PUT') {
        const etag = personality.etag(body);
        objects.set(key, { size: body.length, etag });
        const checksum = request.headers['x-amz-checksum-crc32'];
        const echo: Record<string, string> =
          personality.echoChecksum && typeof checksum === 'string' ? { 'x-amz-checksum-crc32': checksum } : {};
        return reply(200, { ETag: `"${etag}"`, ...echo });
      }
      if (request.method === 'HEAD') {
        const object = objects.get(key);
        if (object === undefined) return key.split('/').length === 2 ? reply(200) : reply(404);
        return response.writeHead(200, { ...extra, ETag: `"${object.etag}"`, 'Content-Length': String(object.size) }).end();
      }
      // ListObjectsV2: nothing listed (the publisher then leaves each decision to a HEAD)
      return reply(200, {}, '<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    seen,
    endpoint: `http://127.0.0.1:${port}`,
    puts: () => seen.filter((request) => request.method === 'PUT' || request.method === 'POST').length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function storageFor(endpoint: string, overrides: Partial<Parameters<typeof createS3Storage>[0]> = {}) {
  return createS3Storage({
    endpoint,
    region: 'us-east-1',
    bucket: 'cache',
    accessKey: 'A',
    secretKey: 'S',
    forcePathStyle: true,
    requestChecksum: 'when_required',
    requestTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    multipartThreshold: 1024 * KiB,
    partSize: 400 * KiB,
    maxSockets: 8,
    ...overrides,
  });
}

/** Uploads `size` random bytes to `key` on a fresh fake server; returns the result or the error, and the requests seen. */
async function upload(name: keyof typeof personalities, size: number, overrides: Parameters<typeof storageFor>[1] = {}) {
  const server = await fakeS3(personalities[name]!);
  const storage = storageFor(server.endpoint, overrides);
  const dir = await tempDir('proof');
  await writeTree(dir, { f: randomBytes(size) });
  const file = await openLocalFile(join(dir, 'f'));
  try {
    const result = await storage.putFile('k', file, { size, contentType: 'application/octet-stream' }).catch((error: Error) => error);
    return { result, seen: server.seen };
  } finally {
    await file.handle.close();
    storage.close();
    await server.close();
  }
}

const SMALL = 5 * KiB;
const LARGE = 1100 * KiB; // above the 1 MiB of buffered PUTs: 3 parts of 400 KiB

describe('proof of a stored object', () => {
  it('RGW: an empty ETag to CompleteMultipartUpload is proven by a HEAD, without a second upload', async () => {
    const { result, seen } = await upload('rgw', LARGE);
    assert.deepEqual(result, { md5: (result as { md5: string }).md5, multipart: true, proof: 'etag' });
    assert.deepEqual(
      seen.map((request) => request.method),
      ['POST', 'PUT', 'PUT', 'PUT', 'POST', 'HEAD'],
    );
  });

  it('SSE-KMS: ETags that are no MD5 are proven by the Content-MD5 the server accepted', async () => {
    for (const size of [SMALL, LARGE]) {
      const { result, seen } = await upload('kms', size);
      assert.equal((result as { proof?: string }).proof, 'content_md5', `${size} bytes`);
      assert.ok(seen.filter((request) => request.method === 'PUT').every((request) => typeof request.headers['content-md5'] === 'string'));
    }
  });

  it('R2: a multipart ETag composed another way is proven by the parts ETags and the size', async () => {
    const { result } = await upload('r2', LARGE);
    assert.equal((result as { proof?: string }).proof, 'part_etags');
  });

  it('a server that proves nothing: UnprovenUploadError naming the setting after one upload; trusted Content-MD5 proves it', async () => {
    for (const size of [SMALL, LARGE]) {
      const { result, seen } = await upload('opaque', size);
      assert.ok(result instanceof UnprovenUploadError, `${size} bytes: ${String(result)}`);
      assert.match(result.message, /cannot be proven.*s3\.trust_content_md5 = true/);
      assert.equal(seen.filter((request) => request.method === 'PUT').length, size === SMALL ? 1 : 3, 'no second upload');
      const trusted = await upload('opaque', size, { trustContentMd5: true });
      assert.equal((trusted.result as { proof?: string }).proof, 'content_md5');
    }
  });

  it('when_supported: a single PUT sends its CRC-32 as a header with Content-Length; an echo proves it', async () => {
    const { result, seen } = await upload('checksums', 1030 * KiB, { requestChecksum: 'when_supported', multipartThreshold: 2048 * KiB });
    assert.equal((result as { proof?: string }).proof, 'checksum');
    const put = seen.find((request) => request.method === 'PUT')!;
    assert.equal(put.headers['content-length'], String(1030 * KiB));
    assert.equal(put.headers['content-encoding'], undefined, 'no aws-chunked body');
    assert.match(String(put.headers['x-amz-checksum-crc32']), /^[A-Za-z0-9+/]{6}==$/);
    const without = await upload('checksums', 1030 * KiB, { multipartThreshold: 2048 * KiB });
    assert.ok(without.result instanceof UnprovenUploadError, 'when_required sends no checksum, so none comes back');
  });

  it('an MD5-shaped ETag of other bytes is a mismatch (retried), not a missing proof', async () => {
    for (const size of [SMALL, LARGE]) {
      const { result } = await upload('corrupting', size);
      assert.ok(result instanceof IntegrityError, `${size} bytes: ${String(result)}`);
      assert.match(result.message, /stored wrong|does not match/);
    }
  });

  it('judges the evidence strongest proof first', () => {
    const md5 = 'a'.repeat(32);
    const base = { md5, trustContentMd5: false };
    assert.deepEqual(judgeStored({ ...base, etag: md5 }), { proof: 'etag' });
    assert.deepEqual(judgeStored({ ...base, etag: `${'b'.repeat(32)}-2`, composite: `${'b'.repeat(32)}-2` }), { proof: 'etag' });
    assert.deepEqual(judgeStored({ ...base, etag: 'x', checksumSent: 'AAAAAA==', checksumEchoed: 'AAAAAA==' }), { proof: 'checksum' });
    assert.ok('unproven' in judgeStored({ ...base, etag: 'x', checksumSent: 'AAAAAA==', checksumEchoed: 'AAAAAB==' }));
    assert.deepEqual(judgeStored({ ...base, etag: '', composite: `${'c'.repeat(32)}-3`, partsProven: true }), { proof: 'part_etags' });
    assert.deepEqual(judgeStored({ ...base, etag: 'c'.repeat(32), encrypted: true }), { proof: 'content_md5' });
    assert.ok('mismatch' in judgeStored({ ...base, etag: 'c'.repeat(32) }));
    assert.ok('unproven' in judgeStored({ ...base, etag: undefined }));
    // SSE-S3 (AES256, AWS's default) keeps MD5 ETags: only KMS and customer keys excuse one
    assert.equal(encryptedReply({ 'x-amz-server-side-encryption': 'AES256' }), false);
    assert.equal(encryptedReply({ 'x-amz-server-side-encryption': 'aws:kms' }), true);
    assert.equal(encryptedReply({ 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }), true);
  });
});

describe('S3 error reports', () => {
  it('say code, status and request id when the server sends an empty <Message> (RGW)', () => {
    const rgw = s3ErrorFromReply(
      400,
      '<?xml version="1.0"?><Error><Code>BadDigest</Code><Message></Message><RequestId>tx1</RequestId></Error>',
      {},
    );
    assert.equal(rgw.name, 'BadDigest');
    assert.equal(rgw.message, '(BadDigest, HTTP 400, request id tx1)');
    const aws = s3ErrorFromReply(403, '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>', {
      'x-amz-request-id': 'R9',
    });
    assert.equal(aws.message, 'Access Denied (AccessDenied, HTTP 403, request id R9)');
  });
});

describe('an upload no answer proves, end to end', () => {
  let redis: RedisServer;
  let server: Awaited<ReturnType<typeof fakeS3>>;
  before(async () => {
    [redis, server] = await Promise.all([startRedis(), fakeS3(personalities.opaque!)]);
  });
  after(async () => {
    await Promise.all([redis.destroy(), server.close()]);
  });

  it('fails the job for good with the reason, keeps the local file, uploads once', async () => {
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'StorePath: /nix/store/x\n' });
    const raw = rawConfig(redis, undefined, {
      s3: { endpoint: server.endpoint, region: 'us-east-1', bucket: 'cache', access_key: 'A', secret_key: 'S' },
      publish: { max_retry: 3 },
    });
    const daemon = await startApp(raw);
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/', delete_after_sync: true }]);
      assert.equal(reply.body.total_files, 1);
      await daemon.idle();
      const failed = await daemon.app.uploads.getFailed();
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.attemptsMade, 1, 'not retried');
      assert.match(failed[0]!.failedReason, /cannot be proven.*trust_content_md5.*local file kept/);
      assert.deepEqual(await readdir(src), ['a.narinfo']);
      assert.equal(server.seen.filter((request) => request.method === 'PUT').length, 1);
    } finally {
      await daemon.close();
    }
  });
});
