import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { unquoteEtag } from './etag.js';
import {
  ConsistentBody,
  crc32Header,
  crc32OfBuffer,
  digestFile,
  HashingStream,
  md5OfFile,
  multipartEtagOfFile,
  type FileDigest,
} from './hashing.js';
import { readStreamOf, readWhole, type LocalFile } from './local-file.js';
import { putMultipart } from './multipart.js';
import { pacedStream } from './paced.js';
import { encryptedReply, judgeStored, type StoredEvidence, type UploadProof } from './proof.js';
import { createAddressing } from './s3-address.js';
import { createS3Http, explainS3Error, type S3Body } from './s3-http.js';
import {
  IntegrityError,
  UnprovenUploadError,
  type HeadOptions,
  type ListPage,
  type ObjectInfo,
  type PutOptions,
  type PutResult,
  type Storage,
} from './types.js';

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
  /** The server refuses a body whose Content-MD5 does not match: that alone proves an upload (proof.ts). Default false. */
  trustContentMd5?: boolean | undefined;
}

/** Files up to this size are read into memory and sent as one buffer (no stream overhead). */
const BUFFERED_PUT_LIMIT = 1024 * 1024;
const PLAIN_MD5 = /^[0-9a-f]{32}$/;
/** Object metadata holding the content MD5 we computed, for checksum comparison later. */
const MD5_METADATA = 'md5';

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function base64OfHex(hex: string): string {
  return Buffer.from(hex, 'hex').toString('base64');
}

/** The proof the evidence gives, or the error that says why there is none. */
export function proven(evidence: StoredEvidence): UploadProof {
  const verdict = judgeStored(evidence);
  if ('proof' in verdict) return verdict.proof;
  if ('mismatch' in verdict) throw new IntegrityError(verdict.mismatch);
  throw new UnprovenUploadError(verdict.unproven);
}

/**
 * The S3 backend: HEAD and single PUTs over the lean request path (s3-http.ts), the SDK
 * client (created lazily on first use) for multipart, listing and HeadBucket; both share
 * one pair of keep-alive agents. Every PUT and part carries Content-MD5 (a real S3
 * rejects a corrupted body), and an upload resolves only once the server's answer proves
 * the stored bytes (proof.ts), since some S3-compatible servers verify nothing.
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

  // HeadObject and single PUTs go over the lean path (s3-http.ts says why, with figures).
  const objectAddress = createAddressing(options.endpoint, options.bucket, options.forcePathStyle);
  const lean = createS3Http({
    region: options.region,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    httpAgent,
    httpsAgent,
    connectTimeoutMs: options.connectTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
  });
  const flexibleChecksums = options.requestChecksum === 'when_supported';

  function md5Of(etag: string | undefined, stored: string | undefined): string | undefined {
    if (etag !== undefined && PLAIN_MD5.test(etag)) return etag;
    return stored !== undefined && PLAIN_MD5.test(stored) ? stored : undefined;
  }

  async function head(key: string, headOptions: HeadOptions = {}): Promise<ObjectInfo | null> {
    const reply = await lean.send('HEAD', objectAddress(key), {}, undefined, headOptions.signal, headOptions.pacing);
    if (reply.status === 404) return null;
    const etag = unquoteEtag(header(reply.headers.etag));
    const stored = header(reply.headers[`x-amz-meta-${MD5_METADATA}`])?.toLowerCase();
    return { size: Number(reply.headers['content-length'] ?? 0), md5: md5Of(etag, stored), etag };
  }

  /**
   * One PUT over the lean path, then the verdict on what the server stored. With
   * `request_checksum = "when_supported"` the CRC-32 goes as a plain header, computed
   * before the body is sent: the SDK's way (an aws-chunked body with a trailing
   * checksum) is refused by Ceph RGW (411 MissingContentLength).
   */
  async function putObject(key: string, body: S3Body, digest: FileDigest, put: PutOptions): Promise<PutResult> {
    const headers: Record<string, string> = {
      'Content-MD5': base64OfHex(digest.md5),
      'Content-Type': put.contentType,
      [`x-amz-meta-${MD5_METADATA}`]: digest.md5,
    };
    const checksum = flexibleChecksums && digest.crc32 !== undefined ? crc32Header(digest.crc32) : undefined;
    if (checksum !== undefined) headers['x-amz-checksum-crc32'] = checksum;
    const reply = await lean.send('PUT', objectAddress(key), headers, body, put.signal, put.pacing);
    return {
      md5: digest.md5,
      multipart: false,
      proof: proven({
        etag: unquoteEtag(header(reply.headers.etag)),
        md5: digest.md5,
        checksumSent: checksum,
        checksumEchoed: header(reply.headers['x-amz-checksum-crc32']),
        encrypted: encryptedReply(reply.headers),
        trustContentMd5: options.trustContentMd5 === true,
      }),
    };
  }

  async function putBuffered(key: string, file: LocalFile, put: PutOptions): Promise<PutResult> {
    const body = await readWhole(file, put.size);
    const crc32 = flexibleChecksums ? crc32OfBuffer(body) : undefined;
    const digest = { md5: HashingStream.md5OfBuffer(body), ...(crc32 !== undefined ? { crc32 } : {}) };
    // Sent from memory, so paced before sending (a retry of the same request is not paced again).
    await put.pacing?.bytes(body.length, put.signal);
    return putObject(key, { buffer: body }, digest, put);
  }

  async function putStreamed(key: string, file: LocalFile, put: PutOptions): Promise<PutResult> {
    // Content-MD5 must be known before the body is sent: one read to hash, one to send;
    // the second read is checked against the first (by CRC-32, 5x cheaper than a second
    // MD5: hashing.ts), so a file that changed in between is caught.
    const expected = await digestFile(file);
    // The body holds back its last chunk until the whole file hashed to `expected`: a file
    // rewritten meanwhile fails the request before it is complete, so nothing torn is stored.
    let checked = new ConsistentBody(expected, put.size);
    // A retried attempt reads the file again, through a fresh check.
    const body = () => {
      checked = new ConsistentBody(expected, put.size);
      const source = readStreamOf(file);
      // `pipe` does not forward a read error: without this the request would wait for its timeout.
      source.on('error', (error) => checked.destroy(error));
      const paced = pacedStream(put.pacing, put.signal);
      paced.on('error', (error) => checked.destroy(error));
      return source.pipe(paced).pipe(checked);
    };
    const result = await putObject(key, { stream: body, length: put.size }, expected, put);
    if (checked.bytes !== put.size) {
      throw new IntegrityError(`file changed during upload: read ${checked.bytes} bytes, expected ${put.size}`);
    }
    return result;
  }

  return {
    description: `s3://${options.bucket}`,
    head,
    putFile(key, file, put) {
      if (put.size <= BUFFERED_PUT_LIMIT) return putBuffered(key, file, put);
      if (put.size < options.multipartThreshold) return putStreamed(key, file, put);
      return putMultipart(
        {
          client: s3(),
          bucket: options.bucket,
          partSize: options.partSize,
          trustContentMd5: options.trustContentMd5 === true,
          head: (headKey, signal) => head(headKey, { signal, pacing: put.pacing }),
        },
        key,
        file,
        put,
      );
    },
    async sameContent(remote, file) {
      if (remote.md5 !== undefined) return remote.md5 === (await md5OfFile(file));
      const parts = /-(\d+)$/.exec(remote.etag ?? '');
      if (parts === null) return false;
      // A multipart ETag can be recomputed locally when the parts had our part size.
      return remote.etag === (await multipartEtagOfFile(file, options.partSize));
    },
    async list(prefix, listOptions = {}): Promise<ListPage> {
      // One request per 1,000 keys, at most once per published folder: the SDK's cost does not matter here.
      const reply = await s3()
        .send(new ListObjectsV2Command({ Bucket: options.bucket, Prefix: prefix, ContinuationToken: listOptions.continuation }), {
          abortSignal: listOptions.signal,
        })
        .catch((error: unknown) => Promise.reject(explainS3Error(error)));
      const objects = (reply.Contents ?? []).flatMap((object) =>
        object.Key === undefined ? [] : [{ key: object.Key, size: Number(object.Size ?? 0), lastModified: object.LastModified }],
      );
      return { objects, continuation: reply.IsTruncated === true ? reply.NextContinuationToken : undefined };
    },
    async remove(key) {
      await s3().send(new DeleteObjectCommand({ Bucket: options.bucket, Key: key }));
    },
    async read(key, consume, readOptions = {}) {
      let reply;
      try {
        reply = await s3().send(new GetObjectCommand({ Bucket: options.bucket, Key: key }), { abortSignal: readOptions.signal });
      } catch (error) {
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        if (status === 404 || (error as Error).name === 'NoSuchKey') return null;
        throw explainS3Error(error);
      }
      const body = reply.Body as Readable | undefined;
      if (body === undefined) return consume(Readable.from([]));
      try {
        return await consume(body);
      } finally {
        // A consumer that stopped early must not leave the socket half read.
        if (!body.readableEnded) body.destroy();
      }
    },
    async copy(from, to) {
      const source = `${options.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
      await s3()
        .send(new CopyObjectCommand({ Bucket: options.bucket, Key: to, CopySource: source }))
        .catch((error: unknown) => Promise.reject(explainS3Error(error)));
    },
    async ping(signal) {
      await s3()
        .send(new HeadBucketCommand({ Bucket: options.bucket }), { abortSignal: signal })
        .catch((error: unknown) => Promise.reject(explainS3Error(error)));
    },
    close() {
      client?.destroy();
      client = undefined;
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
