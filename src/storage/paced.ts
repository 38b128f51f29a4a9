import { Transform } from 'node:stream';
import type { Pacing } from './types.js';

/** Passes chunks on only as fast as the pacing grants their bytes (a stream body: fs, S3 streamed PUT). */
export function pacedStream(pacing: Pacing | undefined, signal: AbortSignal | undefined): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (pacing === undefined) return callback(null, chunk);
      pacing.bytes(chunk.length, signal).then(
        () => callback(null, chunk),
        (error: unknown) => callback(error as Error),
      );
    },
  });
}

/** The same for chunks written one by one (SFTP). */
export async function* pacedChunks<T extends { buffer: Buffer }>(
  chunks: AsyncIterable<T> | Iterable<T>,
  pacing: Pacing | undefined,
  signal: AbortSignal | undefined,
): AsyncGenerator<T> {
  for await (const chunk of chunks) {
    await pacing?.bytes(chunk.buffer.length, signal);
    yield chunk;
  }
}
