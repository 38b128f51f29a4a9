import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createMetrics } from '../../src/metrics/index.js';
import { createFsStorage, instrumentStorage, openLocalFile } from '../../src/storage/index.js';
import { tempDir } from '../helpers/daemon.js';
import { parsePrometheusText, sampleValue } from '../helpers/prometheus.js';

describe('instrumented storage', () => {
  it('times every call and counts failures by operation, not misses or cancellations', async () => {
    const metrics = createMetrics();
    const root = await tempDir('bucket');
    const src = await tempDir();
    await writeFile(join(src, 'f.txt'), 'hello');
    const storage = instrumentStorage(createFsStorage({ root }), metrics.storage);
    assert.equal(storage.description, `fs:${root}`);

    assert.equal(await storage.head('store/missing'), null); // a miss is an answer, not an error
    await storage.putFile('store/f.txt', await openLocalFile(join(src, 'f.txt')), { size: 5, contentType: 'text/plain' });
    assert.equal((await storage.head('store/f.txt'))?.size, 5);
    await storage.ping();
    await assert.rejects(storage.head('../escape')); // the backend refuses: an error
    // A file that is not what was announced: the backend refuses it.
    await assert.rejects(storage.putFile('store/g.txt', await openLocalFile(join(src, 'f.txt')), { size: 1, contentType: 'text/plain' }));
    await assert.rejects(
      storage.putFile('store/h.txt', await openLocalFile(join(src, 'f.txt')), {
        size: 5,
        contentType: 'text/plain',
        signal: AbortSignal.abort(),
      }),
    );

    const families = parsePrometheusText(await metrics.registry.metrics());
    const errors = (operation: string) => sampleValue(families, 'sync4loong_storage_errors_total', { operation });
    const calls = (operation: string) => sampleValue(families, 'sync4loong_storage_operation_duration_seconds_count', { operation });
    assert.equal(errors('head'), 1);
    assert.equal(errors('put_file'), 1, 'the cancelled put is not a storage error');
    assert.equal(errors('ping'), 0);
    assert.equal(calls('head'), 3);
    assert.equal(calls('put_file'), 3);
    assert.equal(calls('ping'), 1);
    storage.close();
  });
});
