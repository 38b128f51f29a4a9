/** Job fixtures for the monitoring tests, made through the real daemon. */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import type { TestApp } from '../helpers/daemon.js';
import { waitFor } from '../helpers/servers.js';

export const GONE_REASON = 'local file is gone and the bucket does not hold it';

/**
 * Publishes one file under `key` and deletes it before any worker can run the job (the
 * queue is paused meanwhile), so the job fails for good with `GONE_REASON`. Returns the
 * job id once the job is failed.
 */
export async function publishVanishingFile(daemon: TestApp, dir: string, key: string): Promise<string> {
  const file = join(dir, key.replaceAll('/', '_'));
  await writeFile(file, 'soon gone');
  const queue = daemon.app.uploads;
  await queue.pause();
  let id: string | undefined;
  try {
    const reply = await daemon.post('/publish', [{ from: file, to: key }]);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    const waiting = await queue.getWaiting();
    id = waiting.find((job) => job.data.s3_key === key)?.id;
    assert.ok(id, `job for ${key} is waiting`);
    await rm(file);
  } finally {
    await queue.resume();
  }
  const jobId = id;
  await waitFor(async () => (await queue.getJob(jobId))?.isFailed(), { what: `job ${jobId} to fail` });
  return jobId;
}
