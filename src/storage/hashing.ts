import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { IntegrityError } from './types.js';

/**
 * A pass-through stream that computes, while the bytes flow, the MD5 of the whole content
 * and, when `partSize` is set, the MD5 of each part (to check a multipart ETag, which is
 * the MD5 of the parts' digests followed by `-<parts>`).
 */
export class HashingStream extends Transform {
  private readonly whole = createHash('md5');
  private readonly partDigests: Buffer[] = [];
  private part: Hash | undefined;
  private partFill = 0;
  bytes = 0;

  constructor(private readonly partSize?: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.whole.update(chunk);
    this.bytes += chunk.length;
    if (this.partSize !== undefined) this.updateParts(chunk);
    callback(null, chunk);
  }

  private updateParts(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      this.part ??= createHash('md5');
      const take = Math.min(chunk.length - offset, this.partSize! - this.partFill);
      this.part.update(chunk.subarray(offset, offset + take));
      this.partFill += take;
      offset += take;
      if (this.partFill === this.partSize) this.finishPart();
    }
  }

  private finishPart(): void {
    if (this.part === undefined) return;
    this.partDigests.push(this.part.digest());
    this.part = undefined;
    this.partFill = 0;
  }

  static md5OfBuffer(buffer: Buffer): string {
    return createHash('md5').update(buffer).digest('hex');
  }

  /** Hex MD5 of everything that passed. Call once, after the stream ended. */
  md5(): string {
    return this.whole.digest('hex');
  }

  /** The S3 multipart ETag these bytes would have with this part size. */
  multipartEtag(): string {
    this.finishPart();
    const combined = createHash('md5');
    for (const digest of this.partDigests) combined.update(digest);
    return `${combined.digest('hex')}-${this.partDigests.length}`;
  }
}

/** Hex MD5 of a readable stream's content. */
export async function md5OfStream(stream: NodeJS.ReadableStream): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Hex MD5 of a file's content, streamed. */
export async function md5OfFile(path: string): Promise<string> {
  return md5OfStream(createReadStream(path, { highWaterMark: 1024 * 1024 }));
}

/** The ETag S3 gives a multipart upload of this file with parts of `partSize` bytes. */
export async function multipartEtagOfFile(path: string, partSize: number): Promise<string> {
  const hashing = new HashingStream(partSize);
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hashing, async function* (source) {
    for await (const _chunk of source) {
      // drain
    }
  });
  return hashing.multipartEtag();
}

/**
 * The body of a streamed PUT whose MD5 was computed beforehand (for Content-MD5). It holds
 * back the last chunk until the whole content has been hashed: if the file changed while
 * it was read, the stream fails before the body is complete, so the request is cut short
 * and no server, not even one that ignores Content-MD5, stores a torn object.
 */
export class ConsistentBody extends Transform {
  private readonly hash = createHash('md5');
  private held: Buffer | undefined;
  bytes = 0;

  constructor(
    private readonly expectedMd5: string,
    private readonly expectedSize: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    const previous = this.held;
    this.held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    const md5 = this.hash.digest('hex');
    if (this.bytes !== this.expectedSize || md5 !== this.expectedMd5) {
      callback(
        new IntegrityError(
          `file changed during upload: read ${this.bytes} bytes with MD5 ${md5}, expected ${this.expectedSize} bytes with MD5 ${this.expectedMd5}`,
        ),
      );
      return;
    }
    if (this.held !== undefined) this.push(this.held);
    callback();
  }
}
