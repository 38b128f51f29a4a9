/** `http.addr` parsing and the fallback of `:PORT` to IPv4 on hosts without IPv6. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { listenOn, parseListenAddress } from '../../src/http/index.js';

/** A server whose `listen` fails for the hosts given (as the kernel would), recording every call. */
function serverFailingOn(failures: Record<string, string>) {
  const calls: Array<{ host: string; port: number; ipv6Only?: boolean }> = [];
  const warnings: string[] = [];
  const server = {
    calls,
    warnings,
    log: { warn: (_fields: object, message: string) => warnings.push(message) },
    async listen(options: { host: string; port: number; ipv6Only?: boolean }) {
      calls.push(options);
      const code = failures[options.host];
      if (code !== undefined) throw Object.assign(new Error(`listen ${code} ${options.host}`), { code });
      return '';
    },
  };
  return server;
}

describe('listening on http.addr', () => {
  it('parses the forms of http.addr', () => {
    assert.deepEqual(parseListenAddress(':8080'), { host: '', port: 8080 });
    assert.deepEqual(parseListenAddress('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListenAddress('[::1]:9000'), { host: '::1', port: 9000 });
    assert.deepEqual(parseListenAddress('localhost:1'), { host: 'localhost', port: 1 });
  });

  it('listens dual-stack for ":PORT", on IPv4 where IPv6 is unavailable, and nowhere else on other errors', async () => {
    const dual = serverFailingOn({});
    assert.equal(await listenOn(dual as unknown as FastifyInstance, { host: '', port: 8080 }), '::');
    assert.deepEqual(dual.calls, [{ host: '::', port: 8080, ipv6Only: false }]);

    for (const code of ['EAFNOSUPPORT', 'EADDRNOTAVAIL']) {
      const noIpv6 = serverFailingOn({ '::': code });
      assert.equal(await listenOn(noIpv6 as unknown as FastifyInstance, { host: '', port: 8080 }), '0.0.0.0');
      assert.deepEqual(
        noIpv6.calls.map((call) => call.host),
        ['::', '0.0.0.0'],
      );
      assert.deepEqual(noIpv6.warnings, ['IPv6 unavailable: listening on IPv4 only']);
    }

    const taken = serverFailingOn({ '::': 'EADDRINUSE' });
    await assert.rejects(listenOn(taken as unknown as FastifyInstance, { host: '', port: 8080 }), /EADDRINUSE/);
    assert.equal(taken.calls.length, 1, 'a port in use is not retried on IPv4 only');

    const explicit = serverFailingOn({});
    assert.equal(await listenOn(explicit as unknown as FastifyInstance, { host: '127.0.0.1', port: 1 }), '127.0.0.1');
    assert.deepEqual(explicit.calls, [{ host: '127.0.0.1', port: 1 }]);
  });
});
