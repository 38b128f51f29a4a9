/**
 * The lean S3 request path (aws4 + node:http): key encoding and addressing as the SDK does
 * them, signatures the SDK's own signer agrees with, error shapes, retries, abort, https.
 * A small capturing HTTP server stands in where s3rver cannot show it (s3rver checks no
 * signatures and cannot be told to fail); uploads against s3rver itself are covered by
 * test/sync and test/publish.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { createS3Storage, IntegrityError, openLocalFile } from '../../src/storage/index.js';
import { createAddressing, encodeKey, isVirtualHostable } from '../../src/storage/s3-address.js';
import { createS3Http, s3ErrorFromReply } from '../../src/storage/s3-http.js';
import { isUnreachableError } from '../../src/sync/outage.js';
import { freePort } from '../helpers/servers.js';
import { tempDir } from '../helpers/daemon.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const ACCESS = 'AKIDEXAMPLE';
const md5Hex = (data: Buffer | string) => createHash('md5').update(data).digest('hex');

interface Captured {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  encrypted: boolean;
}
type Responder = (request: Captured, response: ServerResponse) => void;

/** An HTTP(S) server on a free port that records every request and answers with `respond`. */
async function captureServer(respond: Responder, tls?: { key: Buffer; cert: Buffer }) {
  const requests: Captured[] = [];
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const captured: Captured = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks),
        encrypted: 'encrypted' in request.socket && request.socket.encrypted === true,
      };
      requests.push(captured);
      respond(captured, response);
    });
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    requests,
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** S3's answer to a PUT: the ETag is the MD5 of what arrived. */
const s3Like: Responder = (request, response) => {
  if (request.method === 'PUT') {
    response.writeHead(200, { ETag: `"${md5Hex(request.body)}"` }).end();
  } else {
    response.writeHead(404).end();
  }
};

function storageFor(endpoint: string, overrides: Partial<Parameters<typeof createS3Storage>[0]> = {}) {
  return createS3Storage({
    endpoint,
    region: 'eu-west-1',
    bucket: 'cache',
    accessKey: ACCESS,
    secretKey: SECRET,
    forcePathStyle: true,
    requestChecksum: 'when_required',
    requestTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    multipartThreshold: 64 * 1024 * 1024,
    partSize: 16 * 1024 * 1024,
    maxSockets: 8,
    ...overrides,
  });
}

/** The SDK's signer (what `@aws-sdk/client-s3` uses), fed with node:crypto. */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key = secret === undefined || typeof secret === 'string' ? secret : Buffer.from(secret as ArrayBuffer);
    this.hash = key === undefined ? createHash('sha256') : createHmac('sha256', key);
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

/** The Authorization header the SDK's signer computes for a captured request, at its date. */
async function sdkAuthorization(captured: Captured, region: string): Promise<string> {
  const signer = new SignatureV4({
    service: 's3',
    region,
    credentials: { accessKeyId: ACCESS, secretAccessKey: SECRET },
    sha256: Sha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const signedNames = /SignedHeaders=([^,]+)/.exec(String(captured.headers.authorization))![1]!.split(';');
  const headers: Record<string, string> = {};
  for (const name of signedNames) headers[name] = String(captured.headers[name]);
  const amzDate = headers['x-amz-date']!;
  const signingDate = new Date(
    `${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`,
  );
  const signed = await signer.sign(
    { method: captured.method, protocol: 'http:', hostname: headers.host!, path: captured.url, headers, query: {} },
    { signingDate },
  );
  return String(signed.headers.authorization);
}

describe('S3 key encoding and addressing', () => {
  it('encodes each key segment as SigV4 does and keeps the slashes', () => {
    assert.equal(encodeKey('store/abc.narinfo'), 'store/abc.narinfo');
    assert.equal(encodeKey("a b/c+d/e!'()*/é~_.-/x?y#z%"), 'a%20b/c%2Bd/e%21%27%28%29%2A/%C3%A9~_.-/x%3Fy%23z%25');
    assert.equal(encodeKey('a//b/'), 'a//b/', 'empty segments are kept');
  });

  it('addresses path-style or virtual-host as the SDK resolves it', () => {
    assert.equal(createAddressing('http://127.0.0.1:9000', 'cache', true)('nar/x y').path, '/cache/nar/x%20y');
    const virtual = createAddressing('https://s3.example.com', 'cache', false)('nar/x');
    assert.deepEqual(
      { host: virtual.host, path: virtual.path, port: virtual.port },
      { host: 'cache.s3.example.com', path: '/nar/x', port: '' },
    );
    const withPort = createAddressing('http://minio.lan:9000/', 'cache', false)('k');
    assert.equal(withPort.host, 'cache.minio.lan:9000');
    assert.equal(createAddressing('https://gw.example.com/s3/', 'cache', true)('k').path, '/s3/cache/k', 'endpoint path kept');
    // Not a DNS label: path style even when virtual hosts are asked for.
    assert.equal(createAddressing('https://s3.example.com', 'My_Bucket', false)('k').path, '/My_Bucket/k');
    assert.equal(isVirtualHostable('nix.cache', 'https:'), false, 'a dotted name breaks the TLS wildcard');
    assert.equal(isVirtualHostable('nix.cache', 'http:'), true);
    assert.equal(isVirtualHostable('ab', 'http:'), false);
    assert.equal(isVirtualHostable('10.0.0.1', 'http:'), false);
  });
});

describe('S3 error replies', () => {
  it('names errors by the S3 code, or by status when there is no body, as the SDK does', () => {
    const denied = s3ErrorFromReply(
      403,
      '<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>Access &amp; more denied</Message></Error>',
      { 'x-amz-request-id': 'R1' },
    );
    assert.equal(denied.name, 'AccessDenied');
    assert.equal(denied.message, 'Access & more denied (AccessDenied, HTTP 403, request id R1)');
    assert.deepEqual(denied.$metadata, { httpStatusCode: 403, requestId: 'R1' });
    assert.equal(isUnreachableError(denied), false);
    assert.equal(s3ErrorFromReply(403, '').name, 'Forbidden');
    assert.equal(s3ErrorFromReply(418, '').name, '418');
    for (const status of [502, 503, 504]) assert.equal(isUnreachableError(s3ErrorFromReply(status, '')), true, `${status}`);
    assert.equal(isUnreachableError(s3ErrorFromReply(500, '<Error><Code>InternalError</Code></Error>')), true);
    assert.equal(isUnreachableError(s3ErrorFromReply(400, '<Error><Code>SlowDown</Code></Error>')), true);
  });
});

describe('lean S3 requests', () => {
  let server: Awaited<ReturnType<typeof captureServer>>;
  let respond: Responder = s3Like;
  before(async () => {
    server = await captureServer((request, response) => respond(request, response));
  });
  after(() => server.close());

  it('signs HEAD and PUT so the SDK signer agrees, with the SDK key path, Content-MD5 and md5 metadata', async () => {
    respond = s3Like;
    server.requests.length = 0;
    const key = "nar/odd name+(1)!é*'.nar.xz";
    const sdk = new S3Client({
      endpoint: server.endpoint,
      region: 'eu-west-1',
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS, secretAccessKey: SECRET },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
    await assert.rejects(sdk.send(new HeadObjectCommand({ Bucket: 'cache', Key: key })));
    await sdk.send(new PutObjectCommand({ Bucket: 'cache', Key: key, Body: 'x' }));
    sdk.destroy();
    const [sdkHead, sdkPut] = server.requests.splice(0);

    const storage = storageFor(server.endpoint);
    const src = await tempDir();
    const content = Buffer.from('hello nix cache');
    await writeFile(join(src, 'f'), content);
    assert.equal(await storage.head(key), null, 'a 404 HEAD is "absent"');
    const put = await storage.putFile(key, await openLocalFile(join(src, 'f')), { size: content.length, contentType: 'application/x-xz' });
    storage.close();
    assert.equal(put.md5, md5Hex(content));
    const [head, upload] = server.requests;
    assert.ok(head && upload && sdkHead && sdkPut);

    assert.equal(head.url, sdkHead.url, 'same encoded path as the SDK');
    assert.equal(upload.url, sdkPut.url.replace('?x-id=PutObject', ''), 'same path (the SDK adds a tracking query)');
    assert.equal(head.url, '/cache/nar/odd%20name%2B%281%29%21%C3%A9%2A%27.nar.xz');
    assert.equal(head.headers.authorization, await sdkAuthorization(head, 'eu-west-1'));
    assert.equal(upload.headers.authorization, await sdkAuthorization(upload, 'eu-west-1'));
    assert.match(String(upload.headers.authorization), /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/s3\/aws4_request, /);
    assert.deepEqual(upload.body, content);
    assert.equal(upload.headers['content-md5'], createHash('md5').update(content).digest('base64'));
    assert.equal(upload.headers['x-amz-meta-md5'], md5Hex(content));
    assert.equal(upload.headers['content-type'], 'application/x-xz');
    assert.equal(upload.headers['x-amz-content-sha256'], createHash('sha256').update(content).digest('hex'));
    const signed = /SignedHeaders=([^,]+)/.exec(String(upload.headers.authorization))![1]!.split(';');
    for (const name of ['content-md5', 'x-amz-meta-md5', 'host', 'x-amz-date']) assert.ok(signed.includes(name), `${name} signed`);
  });

  it('streams files above the buffered size, unsigned payload, and reads metadata back on HEAD', async () => {
    const content = Buffer.alloc(3 * 1024 * 1024 + 5, 7);
    let stored: Buffer | undefined;
    respond = (request, response) => {
      if (request.method === 'PUT') {
        stored = request.body;
        response.writeHead(200, { ETag: `"${md5Hex(request.body)}"` }).end();
      } else {
        response
          .writeHead(200, { 'Content-Length': String(stored?.length ?? 0), ETag: '"abc-2"', 'x-amz-meta-md5': md5Hex(stored!) })
          .end();
      }
    };
    server.requests.length = 0;
    const storage = storageFor(server.endpoint);
    const src = await tempDir();
    await writeFile(join(src, 'big'), content);
    await storage.putFile('nar/big', await openLocalFile(join(src, 'big')), { size: content.length, contentType: 'application/x-xz' });
    const info = await storage.head('nar/big');
    storage.close();
    assert.deepEqual(stored, content);
    assert.equal(server.requests[0]!.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
    assert.equal(server.requests[0]!.headers['content-length'], String(content.length));
    assert.deepEqual(info, { size: content.length, md5: md5Hex(content), etag: 'abc-2' });
  });

  it('fails with IntegrityError when the stored ETag does not match the bytes sent', async () => {
    respond = (_request, response) => response.writeHead(200, { ETag: '"00000000000000000000000000000000"' }).end();
    const storage = storageFor(server.endpoint);
    const src = await tempDir();
    await writeFile(join(src, 'f'), 'data');
    await assert.rejects(storage.putFile('k', await openLocalFile(join(src, 'f')), { size: 4, contentType: 'text/plain' }), IntegrityError);
    storage.close();
  });

  it('ends a streamed PUT at once when the file is shorter than announced', async () => {
    respond = s3Like;
    const storage = storageFor(server.endpoint);
    const src = await tempDir();
    const content = Buffer.alloc(2 * 1024 * 1024, 1);
    await writeFile(join(src, 'f'), content);
    const started = Date.now();
    await assert.rejects(
      storage.putFile('short', await openLocalFile(join(src, 'f')), { size: content.length + 10, contentType: 'application/x-xz' }),
      IntegrityError,
    );
    assert.ok(Date.now() - started < 4000, 'no wait for the request timeout');
    storage.close();
  });

  it('maps error replies like the SDK, retries 5xx three times, never shows the secret', async () => {
    respond = (request, response) => {
      if (request.url.endsWith('/denied'))
        response.writeHead(403).end('<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      else response.writeHead(503).end('<Error><Code>ServiceUnavailable</Code><Message>busy</Message></Error>');
    };
    server.requests.length = 0;
    const storage = storageFor(server.endpoint);
    const src = await tempDir();
    await writeFile(join(src, 'f'), 'data');
    const denied = await storage
      .putFile('denied', await openLocalFile(join(src, 'f')), { size: 4, contentType: 'text/plain' })
      .catch((e: unknown) => e);
    assert.equal((denied as Error).name, 'AccessDenied');
    assert.equal((denied as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode, 403);
    assert.equal(server.requests.length, 1, 'a 403 is not retried');
    const busy = await storage.head('busy').catch((e: unknown) => e);
    assert.equal((busy as Error).name, 'ServiceUnavailable');
    assert.equal(isUnreachableError(busy), true);
    assert.equal(server.requests.length, 4, 'a 503 is tried three times');
    for (const error of [denied, busy]) {
      const shown = `${String(error)} ${JSON.stringify(error)} ${(error as Error).stack}`;
      assert.ok(!shown.includes(SECRET) && !shown.includes(ACCESS), 'no credentials in errors');
    }
    storage.close();
  });

  it('keeps Node error codes for network failures, and honours abort and timeouts', async () => {
    const closed = storageFor(`http://127.0.0.1:${await freePort()}`);
    const refused = await closed.head('k').catch((e: unknown) => e);
    assert.equal((refused as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    assert.equal(isUnreachableError(refused), true);
    closed.close();

    respond = () => {}; // never answers
    const slow = storageFor(server.endpoint, { requestTimeoutMs: 100 });
    const timedOut = await slow.head('k').catch((e: unknown) => e);
    assert.equal((timedOut as Error).name, 'TimeoutError');
    assert.equal(isUnreachableError(timedOut), true);
    const started = Date.now();
    const aborted = await storageFor(server.endpoint)
      .head('k', { signal: AbortSignal.timeout(100) })
      .catch((e: unknown) => e);
    assert.equal((aborted as Error).name, 'AbortError');
    assert.ok(Date.now() - started < 3000, 'abort ends the request at once');
    slow.close();
  });
});

describe('lean S3 requests over https', () => {
  it('sends signed requests through the https agent', async (t) => {
    const dir = await tempDir('tls');
    try {
      await promisify(execFile)('openssl', [
        'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
      ]); // prettier-ignore
    } catch {
      t.skip('openssl is not available');
      return;
    }
    const tls = { key: await readFile(join(dir, 'key.pem')), cert: await readFile(join(dir, 'cert.pem')) };
    const server = await captureServer(s3Like, tls);
    const httpsAgent = new HttpsAgent({ keepAlive: true, ca: tls.cert });
    const httpAgent = new HttpAgent({ keepAlive: true });
    try {
      const http = createS3Http({
        region: 'us-east-1',
        accessKey: ACCESS,
        secretKey: SECRET,
        httpAgent,
        httpsAgent,
        connectTimeoutMs: 2000,
        requestTimeoutMs: 5000,
      });
      const address = createAddressing(server.endpoint, 'cache', true)('store/a.narinfo');
      const reply = await http.send('PUT', address, { 'Content-MD5': 'x' }, { buffer: Buffer.from('abc') });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.etag, `"${md5Hex('abc')}"`);
      const [captured] = server.requests;
      assert.equal(captured?.encrypted, true);
      assert.equal(captured.url, '/cache/store/a.narinfo');
      assert.equal(captured.headers.authorization, await sdkAuthorization(captured, 'us-east-1'));
    } finally {
      httpsAgent.destroy();
      httpAgent.destroy();
      await server.close();
    }
  });
});
