/**
 * The Go daemon's HTTP surface (issue 15): publish bodies read as JSON whatever their
 * Content-Type, one key rule for publish and /check, and `:PORT` on IPv4 and IPv6.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { type RedisServer, type S3Server, freePort, useServers } from '../helpers/servers.js';
import { createBucket, listKeys, rawConfig, request, startApp, startDaemonProcess, tempDir, writeTree } from '../helpers/daemon.js';

const TOKEN = 'go-surface-token-0123456789';

/** A POST as `curl -d` sends it: the given headers only (no Content-Type unless named). */
function rawPost(url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return rawRequest('POST', url, body, headers);
}

/**
 * A request sent as written, without the URL normalisation of `fetch` (which turns
 * `/check/store/./x` into `/check/store/x` before sending it).
 */
function rawRequest(method: string, url: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const { origin, hostname, port } = new URL(url);
    // The path goes as written: `new URL` would resolve its dot segments.
    const options = { host: hostname, port, path: url.slice(origin.length), method };
    const sent = httpRequest({ ...options, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (reply) => {
      let text = '';
      reply.setEncoding('utf8');
      reply.on('data', (chunk: string) => (text += chunk));
      reply.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: reply.statusCode ?? 0, body: parsed });
      });
    });
    sent.on('error', reject);
    sent.end(body);
  });
}

/** Whether this machine can listen on the IPv6 loopback. */
async function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

describe('the Go HTTP surface', () => {
  let redis: RedisServer;
  let s3: S3Server;
  useServers((servers) => ({ redis, s3 } = servers));

  it('reads a publish body as JSON whatever its Content-Type (curl -d), and still answers 400 JSON to a non-JSON body', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'form.txt': 'form', 'none.txt': 'none', 'plain.txt': 'plain', 'bearer.txt': 'bearer' });
    const open = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      const form = await rawPost(`${open.url}/publish`, JSON.stringify([{ from: `${src}/form.txt`, to: 'store/' }]), {
        'content-type': 'application/x-www-form-urlencoded',
      });
      assert.equal(form.status, 200, JSON.stringify(form.body));
      assert.equal(form.body.total_files, 1);
      const none = await rawPost(`${open.url}/publish`, JSON.stringify([{ from: `${src}/none.txt`, to: 'store/' }]), {});
      assert.equal(none.status, 200, JSON.stringify(none.body));
      const plain = await rawPost(`${open.url}/publish`, JSON.stringify([{ from: `${src}/plain.txt`, to: 'store/' }]), {
        'content-type': 'text/plain; charset=utf-8',
      });
      assert.equal(plain.status, 200, JSON.stringify(plain.body));

      const notJson = await rawPost(`${open.url}/publish`, 'from=/data&to=store/', { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(notJson.status, 400);
      assert.deepEqual(notJson.body, { success: false, error: 'request body is not valid JSON' });
      const poisoned = await rawPost(`${open.url}/publish`, '[{"__proto__": {"x": 1}, "from": "/a", "to": "b"}]', {});
      assert.equal(poisoned.status, 400, 'prototype poisoning is refused as by the JSON parser');
      assert.equal(poisoned.body.success, false);

      // Only /publish takes any Content-Type (the Go daemon's rule): POST /check still wants JSON.
      const checkForm = await rawPost(`${open.url}/check`, '{"keys": ["store/a"]}', {
        'content-type': 'application/x-www-form-urlencoded',
      });
      assert.equal(checkForm.status, 415);
      await open.idle();
    } finally {
      await open.close();
    }

    // A client with a bearer token (not a browser) keeps the rule.
    const guarded = await startApp(rawConfig(redis, s3, { http: { auth_tokens: [TOKEN], body_limit_bytes: 4096 } }, bucket));
    try {
      const body = JSON.stringify([{ from: `${src}/bearer.txt`, to: 'store/' }]);
      const refused = await rawPost(`${guarded.url}/publish`, body, { 'content-type': 'application/x-www-form-urlencoded' });
      assert.equal(refused.status, 401, 'no token, no publish');
      const bearer = await rawPost(`${guarded.url}/publish`, body, {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Bearer ${TOKEN}`,
      });
      assert.equal(bearer.status, 200, JSON.stringify(bearer.body));
      const huge = await rawPost(`${guarded.url}/publish`, `[${' '.repeat(8192)}]`, {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Bearer ${TOKEN}`,
      });
      assert.equal(huge.status, 413, 'http.body_limit_bytes still holds');
      assert.deepEqual(huge.body, { success: false, error: 'request body too large' });
      await guarded.idle();
    } finally {
      await guarded.close();
    }
    assert.deepEqual(await listKeys(s3, bucket), ['store/bearer.txt', 'store/form.txt', 'store/none.txt', 'store/plain.txt']);
  });

  it('answers GET /check/{key}/ with the 400 of ?key={key}/', async () => {
    const daemon = await startApp(rawConfig(redis, s3, {}, await createBucket(s3)));
    try {
      const query = await daemon.get('/check?key=store/sub/');
      assert.equal(query.status, 400);
      const path = await daemon.get('/check/store/sub/');
      assert.equal(path.status, 400, JSON.stringify(path.body));
      assert.deepEqual(path.body, query.body);
      assert.deepEqual(path.body, { error: "invalid s3 key: must not contain empty or '.' segments" });
      const withQuery = await daemon.get('/check/store/sub/?x=1');
      assert.equal(withQuery.status, 400);
      const plain = await daemon.get('/check/store/sub');
      assert.equal(plain.status, 200, 'without the slash the key is answered');
      assert.equal(plain.body.exists, false);
    } finally {
      await daemon.close();
    }
  });

  it('refuses at publish every key /check would refuse, and checks every key publish uploads', async () => {
    const bucket = await createBucket(s3);
    const src = await tempDir();
    await writeTree(src, { 'x.txt': 'x', 'dir/y.txt': 'y' });
    const daemon = await startApp(rawConfig(redis, s3, {}, bucket));
    try {
      for (const to of ['store/./x', 'store/./', 'store//x', 'store//', './store/', 'store/..']) {
        const published = await daemon.post('/publish', [{ from: `${src}/x.txt`, to }]);
        assert.equal(published.status, 400, `publish to ${to}: ${JSON.stringify(published.body)}`);
        const checked = await daemon.get(`/check?key=${encodeURIComponent(to)}`);
        assert.equal(checked.status, 400, `check of ${to}: ${JSON.stringify(checked.body)}`);
      }
      const dot = await daemon.post('/publish', [{ from: `${src}/x.txt`, to: 'store/./x' }]);
      assert.equal(dot.body.error, "'to' must not contain empty or '.' segments for item 0");
      const dotPath = await rawRequest('GET', `${daemon.url}/check/store/./x`, '', {});
      assert.equal(dotPath.status, 400, JSON.stringify(dotPath.body));

      const published = await daemon.post('/publish', [
        { from: src, to: 'store/a.b/' },
        { from: `${src}/x.txt`, to: 'store/.x' },
      ]);
      assert.equal(published.status, 200, JSON.stringify(published.body));
      await daemon.idle();
      const keys = await listKeys(s3, bucket);
      assert.deepEqual(keys, ['store/.x', 'store/a.b/dir/y.txt', 'store/a.b/x.txt']);
      for (const key of keys) {
        const checked = await daemon.get(`/check/${key}`);
        assert.equal(checked.status, 200, `${key}: ${JSON.stringify(checked.body)}`);
        assert.equal(checked.body.exists, true, key);
      }
    } finally {
      await daemon.close();
    }
  });

  it('listens on IPv4 and IPv6 when started with http.addr = ":PORT"', async (t) => {
    if (!(await hasIpv6Loopback())) {
      t.skip('this machine has no IPv6 loopback (::1): dual-stack listening cannot be shown here');
      return;
    }
    const port = await freePort();
    const daemon = await startDaemonProcess(rawConfig(redis, s3, { http: { addr: `:${port}` } }, await createBucket(s3)));
    try {
      assert.match(daemon.output(), new RegExp(`addr=\\[::\\]:${port}`));
      const viaV6 = await request(`http://[::1]:${port}`, 'GET', '/check/store/none');
      assert.equal(viaV6.status, 200, JSON.stringify(viaV6.body));
      assert.equal(viaV6.body.exists, false);
      const viaV4 = await request(`http://127.0.0.1:${port}`, 'GET', '/check/store/none');
      assert.equal(viaV4.status, 200);
      assert.equal(viaV4.body.cached, true, 'the same daemon answered (its cache has the key now)');
    } finally {
      assert.equal(await daemon.stop(), 0);
    }
  });
});
