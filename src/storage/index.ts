import type { Config } from '../config/index.js';
import { createFsStorage } from './fs.js';
import { createS3Storage } from './s3.js';
import { createSftpStorage } from './sftp.js';
import { sftpStorageOptions } from './sftp-options.js';
import type { Storage } from './types.js';

export type {
  Storage,
  Pacing,
  LocalFile,
  ObjectInfo,
  PutOptions,
  PutResult,
  HeadOptions,
  ListedObject,
  ListPage,
  ListOptions,
  ReadOptions,
} from './types.js';
export { IntegrityError, UnprovenUploadError } from './types.js';
export type { UploadProof } from './proof.js';
export { openLocalFile, readStreamOf } from './local-file.js';
export { keyDefect, MAX_KEY_BYTES } from './keys.js';
export { createS3Storage, type S3StorageOptions } from './s3.js';
export { createFsStorage, type FsStorageOptions } from './fs.js';
export { createSftpStorage, type SftpStorageOptions } from './sftp.js';
export { SftpConnectionError, SftpRefusedError } from './sftp-pool.js';
export { HashingStream, md5OfStream, md5OfFile, multipartEtagOfFile } from './hashing.js';
export { instrumentStorage, type StorageMetrics, type StorageOperation } from './instrumented.js';

const MiB = 1024 * 1024;

/** The backend the config names. */
export function createStorage(config: Config): Storage {
  if (config.storage.type === 'fs') return createFsStorage({ root: config.storage.root });
  if (config.storage.type === 'sftp') return createSftpStorage(sftpStorageOptions(config.sftp));
  const s3 = config.s3;
  return createS3Storage({
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    accessKey: s3.access_key,
    secretKey: s3.secret_key,
    forcePathStyle: s3.force_path_style,
    requestChecksum: s3.request_checksum,
    requestTimeoutMs: s3.request_timeout_seconds * 1000,
    connectTimeoutMs: s3.connect_timeout_seconds * 1000,
    multipartThreshold: s3.multipart_threshold_mb * MiB,
    partSize: s3.part_size_mb * MiB,
    maxSockets: s3.max_sockets,
    trustContentMd5: s3.trust_content_md5,
  });
}
