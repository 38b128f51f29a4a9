import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { HeadBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { HashingStream } from './hashing.js';
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

const MiB = 1024 * 1024;
const PLAIN_MD5 = /^[0-9a-f]{32}$/;

function unquote(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, '').toLowerCase();
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/** The S3 backend: one client with a keep-alive agent, created lazily on first use. */
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
      const etag = unquote(reply.ETag);
      return { size: reply.ContentLength ?? 0, md5: etag !== undefined && PLAIN_MD5.test(etag) ? etag : undefined };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async function putSingle(key: string, filePath: string, put: PutOptions): Promise<PutResult> {
    const hashing = new HashingStream();
    const body = createReadStream(filePath).pipe(hashing);
    const reply = await s3().send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: key,
        Body: body,
        ContentLength: put.size,
        ContentType: put.contentType,
      }),
      { abortSignal: put.signal },
    );
    if (hashing.bytes !== put.size) {
      throw new IntegrityError(`file changed during upload: read ${hashing.bytes} bytes, expected ${put.size}`);
    }
    const md5 = hashing.md5();
    const etag = unquote(reply.ETag);
    if (etag !== md5) throw new IntegrityError(`stored object does not match: ETag ${etag ?? 'missing'}, content MD5 ${md5}`);
    return { md5, multipart: false };
  }

  async function putMultipart(key: string, filePath: string, put: PutOptions): Promise<PutResult> {
    const hashing = new HashingStream(options.partSize);
    const body = new PassThrough({ highWaterMark: MiB });
    const reading = pipeline(createReadStream(filePath, { highWaterMark: MiB }), hashing, body);
    const upload = new Upload({
      client: s3(),
      params: { Bucket: options.bucket, Key: key, Body: body, ContentType: put.contentType },
      partSize: options.partSize,
      queueSize: 4,
      leavePartsOnError: false,
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    put.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const [reply] = await Promise.all([upload.done(), reading]);
      if (hashing.bytes !== put.size) {
        throw new IntegrityError(`file changed during upload: read ${hashing.bytes} bytes, expected ${put.size}`);
      }
      const composite = hashing.multipartEtag();
      const md5 = hashing.md5();
      const etag = unquote(reply.ETag);
      // Real S3 answers the parts' composition; some servers (s3rver) the plain MD5.
      if (etag !== composite && etag !== md5) {
        throw new IntegrityError(`stored object does not match: ETag ${etag ?? 'missing'}, expected ${composite}`);
      }
      return { md5, multipart: true };
    } finally {
      put.signal?.removeEventListener('abort', onAbort);
      body.destroy();
    }
  }

  return {
    description: `s3://${options.bucket}`,
    head,
    putFile(key, filePath, put) {
      return put.size >= options.multipartThreshold ? putMultipart(key, filePath, put) : putSingle(key, filePath, put);
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
