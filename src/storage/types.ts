/** What the daemon needs from a bucket: the narrow interface every backend implements. */
import type { Readable } from 'node:stream';
import type { LocalFile } from './local-file.js';
import type { UploadProof } from './proof.js';

export type { LocalFile } from './local-file.js';

export interface ObjectInfo {
  /** Size in bytes. */
  size: number;
  /**
   * Hex MD5 of the whole content, when the backend knows it: a plain (single-part) S3
   * ETag, or a digest computed by the fs backend when `withMd5` was asked for.
   */
  md5?: string | undefined;
  /** The raw ETag without quotes (a multipart one ends in `-<parts>`). */
  etag?: string | undefined;
}

/**
 * How an upload's traffic is paced (the daemon's bandwidth cap, request rate and
 * throttling: src/throttle/). Given by the upload worker only: `/check`'s HEADs carry
 * none, so they are never slowed. A backend calls what applies to it.
 */
export interface Pacing {
  /** Waits until `count` more bytes may be sent to the storage (every backend, before sending them). */
  bytes(count: number, signal?: AbortSignal): Promise<void>;
  /** Waits until one more request may be sent (the request rate, a `Retry-After`): before each HTTP attempt. */
  request(signal?: AbortSignal): Promise<void>;
  /** Every HTTP answer of the storage, each attempt (retries included), so no throttling answer goes unseen. */
  answered(answer: { status: number; code?: string | undefined; retryAfter?: string | undefined }): void;
}

export interface HeadOptions {
  signal?: AbortSignal | undefined;
  /** The upload's pacing (requests and answers); none for `/check`. */
  pacing?: Pacing | undefined;
  /** The caller needs `md5` (the fs backend computes it only then). */
  withMd5?: boolean | undefined;
}

export interface PutOptions {
  /** Size the file had when it was stat'ed; a different number of bytes read fails the put. */
  size: number;
  contentType: string;
  signal?: AbortSignal | undefined;
  /** A multipart upload left by an earlier, interrupted attempt: aborted before starting anew. */
  previousUploadId?: string | undefined;
  /** Told the id of a multipart upload as soon as it exists, so a crash can be cleaned up. */
  onMultipartStarted?: ((uploadId: string) => Promise<void> | void) | undefined;
  /** Paces the bytes sent, the requests made and sees their answers (src/throttle/). */
  pacing?: Pacing | undefined;
}

export interface PutResult {
  /** Hex MD5 of the bytes that were read and stored; the backend verified the stored copy matches. */
  md5: string;
  /** The upload went in parts. */
  multipart: boolean;
  /**
   * What proved the stored copy: an S3 proof (proof.ts); `local` for the fs backend, which
   * compares the bytes; `size` or `readback` for SFTP (`sftp.verify`, docs/uploads.md).
   */
  proof: UploadProof | 'local' | 'size' | 'readback';
}

/** One object of a listing. */
export interface ListedObject {
  key: string;
  size: number;
  /** When the object was last written, when the backend says (S3 `LastModified`, a file's mtime). */
  lastModified?: Date | undefined;
}

/** One page of a listing, in the backend's order. */
export interface ListPage {
  objects: ListedObject[];
  /** Pass to the next `list` call; undefined on the last page. */
  continuation?: string | undefined;
}

export interface ListOptions {
  continuation?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface ReadOptions {
  signal?: AbortSignal | undefined;
}

export interface Storage {
  /** Human-readable location for logs (`s3://bucket`, `fs:/srv/cache`). */
  readonly description: string;
  /** Size (and MD5 when known) of the object, or null when it does not exist. */
  head(key: string, options?: HeadOptions): Promise<ObjectInfo | null>;
  /**
   * Streams an open local file to `key`, never holding it whole in memory, reading it
   * only through its descriptor. Resolves only when the backend is proven to hold exactly
   * the bytes read (`PutResult.proof` says how); rejects with `IntegrityError` when it
   * holds something else, and with `UnprovenUploadError` when the backend stored the
   * object but gives nothing to prove it.
   */
  putFile(key: string, file: LocalFile, options: PutOptions): Promise<PutResult>;
  /**
   * Whether the object described by `remote` (from `head`) holds exactly the content of
   * the open local file: by MD5, or by the multipart ETag composition. False when unknown.
   */
  sameContent(remote: ObjectInfo, file: LocalFile): Promise<boolean>;
  /**
   * One page (up to 1,000 keys) of the keys that start with `prefix`. Optional: a backend
   * without it is never listed (the publisher then leaves every decision to the workers).
   */
  list?(prefix: string, options?: ListOptions): Promise<ListPage>;
  /**
   * Removes the object (absent already is fine). Optional: used to take back an object the
   * worker just wrote from a file that changed while it was read, and by scrub's repair.
   */
  remove?(key: string): Promise<void>;
  /**
   * Reads the object: `consume` gets a stream of its bytes and resolves when done with it
   * (the backend may hold a connection until then). Resolves with what `consume` returned,
   * or null when the object does not exist. Optional: scrub needs it, nothing else does.
   */
  read?<T>(key: string, consume: (body: Readable) => Promise<T>, options?: ReadOptions): Promise<T | null>;
  /**
   * Copies the object `from` to `to` inside the storage (overwriting `to`); rejects when
   * `from` does not exist. Optional: scrub's repair needs it to quarantine before removing.
   */
  copy?(from: string, to: string): Promise<void>;
  /** Cheap reachability probe (readiness). */
  ping(signal?: AbortSignal): Promise<void>;
  close(): void;
}

/** The stored object does not match what was read, or the file changed while being read. */
export class IntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntegrityError';
  }
}

/**
 * The object was stored, but the server gave nothing that proves its content (an ETag
 * that is no MD5, no checksum echoed, Content-MD5 not trusted): trying again cannot help.
 */
export class UnprovenUploadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnprovenUploadError';
  }
}
