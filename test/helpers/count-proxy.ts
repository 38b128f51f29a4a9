/**
 * A reverse proxy in front of an S3 server that counts, per object key, the requests that
 * created an object and were answered 200: a PUT of a whole object, or the POST that
 * completes a multipart upload (part uploads are not creations). The daemon under test
 * gets the proxy's endpoint; the count is what the storage really saw.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CountProxy {
  /** `http://127.0.0.1:port`: the `s3.endpoint` to give the daemon. */
  endpoint: string;
  /** Successful object creations per key (without the bucket). */
  creations(): Map<string, number>;
  close(): Promise<void>;
}

export async function startCountProxy(target: { port: number }): Promise<CountProxy> {
  const counts = new Map<string, number>();
  const agent = new Agent({ keepAlive: true, maxSockets: 128 });
  const server = createServer((incoming, outgoing) => {
    const url = new URL(incoming.url ?? '/', 'http://proxy');
    const creates =
      (incoming.method === 'PUT' && !url.searchParams.has('partNumber')) ||
      (incoming.method === 'POST' && url.searchParams.has('uploadId'));
    // Headers go through unchanged: the request is signed for the proxy's host.
    const upstream = request(
      { host: '127.0.0.1', port: target.port, method: incoming.method, path: incoming.url, headers: incoming.headers, agent },
      (answer) => {
        const key = decodeURIComponent(url.pathname.split('/').slice(2).join('/'));
        if (creates && answer.statusCode === 200 && key !== '') counts.set(key, (counts.get(key) ?? 0) + 1);
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('error', () => outgoing.destroy()); // cut short upstream: cut short here
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.destroy());
    incoming.on('error', () => upstream.destroy()); // the client gave up mid-request
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    creations: () => new Map(counts),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      agent.destroy();
    },
  };
}
