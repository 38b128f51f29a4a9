import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { HashingStream, md5OfFile, multipartEtagOfFile } from './hashing.js';
import { putMultipart } from './multipart.js';
import { IntegrityError, type HeadOptions, type ObjectInfo, type PutOptions, type PutResult, type Storage } from './types.js';

export interface S3StorageOptions {
  endpoint: string;
  region: string;
  bucket: string;
  accessKey: string;
  secretKey: string;
  forcePathStyle: boolean;
  requestChecksum: 'when_required' | 'when_supported';
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Files of at least this many bytes go multipart. */
  multipartThreshold: number;
  partSize: number;
  maxSockets: number;
}

/** Files up to this size are read into memory and sent as one buffer (no stream overhead). */
const BUFFERED_PUT_LIMIT = 1024 * 1024;
const PLAIN_MD5 = /^[0-9a-f]{32}$/;
/** Object metadata holding the content MD5 we computed, for checksum comparison later. */
const MD5_METADATA = 'md5';

export function unquoteEtag(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, '').toLowerCase();
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

function base64OfHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

function checkStored(etag: string | undefined, md5: string): void {
  if (etag !== md5) throw new IntegrityError(`stored object does not match: ETag ${etag ?? 'missing'}, content MD5 ${md5}`);
}

/**
 * The S3 backend: one client with a keep-alive agent, created lazily on first use. Every
 * PUT carries Content-MD5 (a real S3 rejects a corrupted body) and the daemon checks the
 * returned ETag too, since some S3-compatible servers verify nothing.
 */
export function createS3Storage(options: S3StorageOptions): Storage {
  let client: S3Client | undefined;
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets };
  const httpAgent = new HttpAgent(agentOptions);
  const httpsAgent = new HttpsAgent(agentOptions);

  function s3(): S3Client {
    client ??= new S3Client({
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      credentials: { accessKeyId: options.accessKey, secretAccessKey: options.secretKey },
      requestChecksumCalculation: options.requestChecksum === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      responseChecksumValidation: options.requestChecksum === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED',
      requestHandler: {
        httpAgent,
        httpsAgent,
        connectionTimeout: options.connectTimeoutMs,
        requestTimeout: options.requestTimeoutMs,
      },
    });
    return client;
  }

  async function head(key: string, headOptions: HeadOptions = {}): Promise<ObjectInfo | null> {
    try {
      const reply = await s3().send(new HeadObjectCommand({ Bucket: options.bucket, Key: key }), {
        abortSignal: headOptions.signal,
      });
      const etag = unquoteEtag(reply.ETag);
      const stored = reply.Metadata?.[MD5_METADATA]?.toLowerCase();
      const md5 = etag !== undefined && PLAIN_MD5.test(etag) ? etag : stored !== undefined && PLAIN_MD5.test(stored) ? stored : undefined;
      return { size: reply.ContentLength ?? 0, md5, etag };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async function putBuffered(key: string, filePath: string, put: PutOptions): Promise<PutResult> {
    const body = await readFile(filePath);
    if (body.length !== put.size) throw new IntegrityError(`file changed before upload: ${body.length} bytes, expected ${put.size}`);
    const md5 = HashingStream.md5OfBuffer(body);
    const reply = await s3().send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: key,
        Body: body,
        ContentLength: body.length,
        ContentMD5: base64OfHex(md5),
        ContentType: put.contentType,
        Metadata: { [MD5_METADATA]: md5 },
      }),
      { abortSignal: put.signal },
    );
    checkStored(unquoteEtag(reply.ETag), md5);
    return { md5, multipart: false };
  }

  async function putStreamed(key: string, filePath: string, put: PutOptions): Promise<PutResult> {
    // Content-MD5 must be known before the body is sent: one read to hash, one to send;
    // the second read is hashed too, so a file that changed in between is caught.
    const expected = await md5OfFile(filePath);
    const hashing = new HashingStream();
    const body = createReadStream(filePath).pipe(hashing);
    const reply = await s3().send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: key,
        Body: body,
        ContentLength: put.size,
        ContentMD5: base64OfHex(expected),
        ContentType: put.contentType,
        Metadata: { [MD5_METADATA]: expected },
      }),
      { abortSignal: put.signal },
    );
    const md5 = hashing.md5();
    if (hashing.bytes !== put.size || md5 !== expected) {
      throw new IntegrityError(`file changed during upload: read ${hashing.bytes} bytes, expected ${put.size}`);
    }
    checkStored(unquoteEtag(reply.ETag), md5);
    return { md5, multipart: false };
  }

  return {
    description: `s3://${options.bucket}`,
    head,
    putFile(key, filePath, put) {
      if (put.size <= BUFFERED_PUT_LIMIT) return putBuffered(key, filePath, put);
      if (put.size < options.multipartThreshold) return putStreamed(key, filePath, put);
      return putMultipart({ client: s3(), bucket: options.bucket, partSize: options.partSize }, key, filePath, put);
    },
    async sameContent(remote, filePath) {
      if (remote.md5 !== undefined) return remote.md5 === (await md5OfFile(filePath));
      const parts = /-(\d+)$/.exec(remote.etag ?? '');
      if (parts === null) return false;
      // A multipart ETag can be recomputed locally when the parts had our part size.
      return remote.etag === (await multipartEtagOfFile(filePath, options.partSize));
    },
    async ping(signal) {
      await s3().send(new HeadBucketCommand({ Bucket: options.bucket }), { abortSignal: signal });
    },
    close() {
      client?.destroy();
      client = undefined;
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
