import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createOutageGate } from '../../src/sync/index.js';
import { silentLogger } from '../../src/log/index.js';

/** What the gate decides from the probe's outcome (the probe is the storage's ping; here a function). */
describe('outage gate probe', () => {
  const gateWith = (ping: (signal: AbortSignal) => Promise<void>) =>
    createOutageGate({ ping, log: silentLogger() }, { probeIntervalMs: 10, probeTimeoutMs: 50 });
  const s3Error = (name: string, status: number) => Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });

  it('counts any reply as reachable, an error reply too', async () => {
    assert.equal(await gateWith(async () => undefined).reachable(), true);
    assert.equal(await gateWith(async () => Promise.reject(s3Error('Forbidden', 403))).reachable(), true);
    assert.equal(await gateWith(async () => Promise.reject(s3Error('UnknownError', 500))).reachable(), true);
  });

  it('counts refused and reset connections, 502-504 and no answer in time as unreachable', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    assert.equal(await gateWith(async () => Promise.reject(refused)).reachable(), false);
    assert.equal(await gateWith(async () => Promise.reject(s3Error('ServiceUnavailable', 503))).reachable(), false);
    // Never answers; the timer only keeps the test's event loop alive (the probe's own timeout timer does not).
    const silent = (signal: AbortSignal) =>
      new Promise<void>((_, reject) => {
        const alive = setTimeout(() => undefined, 5000);
        signal.addEventListener('abort', () => {
          clearTimeout(alive);
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
        });
      });
    assert.equal(await gateWith(silent).reachable(), false, 'a probe cancelled at its timeout');
  });

  it('lets waiting uploads go once the storage answers again', async () => {
    let down = 3;
    const gate = gateWith(async () => {
      if (down-- > 0) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    });
    await gate.waitUntilReachable(AbortSignal.timeout(5000));
    assert.ok(down < 0, 'probed until it answered');
  });
});
