/**
 * The "bare script" peer: walks a folder and PUTs every file, N uploads in flight, no
 * queue, one keep-alive agent, each file one streamed PUT. Prints one JSON line with the
 * time from the start of the walk to the last reply (process start-up excluded).
 *
 *   node dist/bench/sdk-client.js --endpoint URL --bucket B --dir D [--inflight 32] [--head] [--client sdk|http]
 *
 * `--client sdk` (default) uses @aws-sdk/client-s3 with `requestChecksumCalculation:
 * 'WHEN_REQUIRED'`; `--client http` signs with `aws4` and sends with `node:http`, to show
 * what the SDK's own per-request cost is. `--head` asks HEAD before each PUT, as the
 * daemon's upload decision does.
 */
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { join, relative, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import aws4 from 'aws4';

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    bucket: { type: 'string' },
    dir: { type: 'string' },
    inflight: { type: 'string', default: '32' },
    head: { type: 'boolean', default: false },
    client: { type: 'string', default: 'sdk' },
  },
});
const endpoint = new URL(values.endpoint!);
const bucket = values.bucket!;
const root = values.dir!;
const inflight = Number(values.inflight);
const agent = new Agent({ keepAlive: true, maxSockets: inflight });
const credentials = { accessKeyId: process.env.BENCH_ACCESS_KEY ?? 'S3RVER', secretAccessKey: process.env.BENCH_SECRET_KEY ?? 'S3RVER' };

const sdk = new S3Client({
  endpoint: values.endpoint!,
  region: 'us-east-1',
  forcePathStyle: true,
  credentials,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
  requestHandler: { httpAgent: agent },
});

async function* walk(directory: string): AsyncGenerator<{ path: string; size: number }> {
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield { path, size: (await stat(path)).size };
  }
}

function keyOf(path: string): string {
  return relative(root, path).split(sep).join('/');
}

/** One signed request over node:http; resolves with the status once the reply ended. */
function httpRequest(method: 'PUT' | 'HEAD', key: string, file?: { path: string; size: number }): Promise<number> {
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const headers: Record<string, string | number> = file ? { 'content-length': file.size, 'content-type': 'application/octet-stream' } : {};
  const signed = aws4.sign(
    {
      host: endpoint.host,
      path,
      method,
      service: 's3',
      region: 'us-east-1',
      headers: { ...headers, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' },
    },
    credentials,
  );
  return new Promise((resolve, reject) => {
    const req = request(
      { host: endpoint.hostname, port: endpoint.port, path, method, agent, headers: signed.headers as Record<string, string> },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (file) createReadStream(file.path).pipe(req);
    else req.end();
  });
}

async function upload(file: { path: string; size: number }): Promise<void> {
  const key = keyOf(file.path);
  if (values.client === 'http') {
    if (values.head && (await httpRequest('HEAD', key)) === 200) return;
    const status = await httpRequest('PUT', key, file);
    if (status !== 200) throw new Error(`PUT ${key}: HTTP ${status}`);
    return;
  }
  if (values.head) {
    try {
      await sdk.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return;
    } catch (error) {
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw error;
    }
  }
  await sdk.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: createReadStream(file.path), ContentLength: file.size }));
}

const started = performance.now();
let files = 0;
let bytes = 0;
const running = new Set<Promise<void>>();
for await (const file of walk(root)) {
  files++;
  bytes += file.size;
  const task: Promise<void> = upload(file).finally(() => running.delete(task));
  running.add(task);
  if (running.size >= inflight) await Promise.race(running);
}
await Promise.all(running);
const seconds = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ seconds, files, bytes })}\n`);
sdk.destroy();
agent.destroy();
