import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRedis, waitFor, type RedisServer } from '../helpers/servers.js';
import { startApp, tempDir, writeTree } from '../helpers/daemon.js';
import type { HookRun } from '../../src/hooks/index.js';
import type { App } from '../../src/app.js';
import { hookConfig, isAlive, recorder, pace, SECOND_IN_MINUTES } from './helpers.js';

/** The most keys a run gets on stdin (docs/post-sync.md). */
const MAX_REPORTED_KEYS = 10_000;

/**
 * The marker that no further run can come: every notification is recorded, no run is
 * active, and nothing waits, is delayed or pending (a run needs a job, a job needs pending
 * uploads). Checked after the runs a test expects are seen.
 */
async function noRunToCome(...apps: App[]): Promise<void> {
  for (const app of apps) await app.hooks.flush();
  const queue = apps[0]!.hooks.queue;
  await waitFor(async () => (await queue.getJobCounts('active')).active === 0, { what: 'no post-sync run active' });
  assert.deepEqual(await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active'), {
    waiting: 0,
    delayed: 0,
    prioritized: 0,
    active: 0,
  });
  assert.deepEqual((await apps[0]!.hooks.report()).pending, { uploaded_count: 0, first_upload_at: null });
}

async function hookRunsMetric(app: { metrics: { registry: { getSingleMetricAsString(name: string): Promise<string> } } }) {
  return app.metrics.registry.getSingleMetricAsString('sync4loong_hook_runs_total');
}

describe('post-sync command', () => {
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.destroy();
  });

  it('runs once after a publish, with quoted argv, the count in env and the keys on stdin; a publish of skipped files runs nothing', async () => {
    const bucket = await tempDir('bucket');
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'a', 'nar/a.nar.xz': 'nar', 'nix-cache-info': 'StoreDir: /nix/store\n' });
    const dir = await tempDir('argv');
    const script = join(dir, 'argv.sh');
    // Writes its argv (after the output file) as `arg|arg|...`, then what recorder scripts record.
    await writeFile(
      script,
      'out="$1"; shift; for a in "$@"; do printf "%s|" "$a"; done > "$out.argv"; echo "$SYNC4LOONG_UPLOADED_COUNT" > "$out.count"; cat > "$out.stdin"; echo "$out" >> "$out.runs"\n',
    );
    const out = join(dir, 'result');
    const command = `/bin/sh ${script} ${out} 'a b' c "it's" 'back\\slash' "dq \\"x\\"" ''`;
    const daemon = await startApp(hookConfig(redis, bucket, { ssh_command: command }));
    try {
      const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      await daemon.idle();
      await waitFor(() => readFile(`${out}.runs`, 'utf8'), { timeoutMs: 10_000, what: 'the post-sync command to run' });
      await noRunToCome(daemon.app);

      assert.equal((await readFile(`${out}.runs`, 'utf8')).trim().split('\n').length, 1, 'exactly one run');
      assert.equal(await readFile(`${out}.argv`, 'utf8'), `a b|c|it's|back\\slash|dq "x"||`);
      assert.equal((await readFile(`${out}.count`, 'utf8')).trim(), '3');
      assert.deepEqual((await readFile(`${out}.stdin`, 'utf8')).split('\n').filter(Boolean).sort(), [
        'store/a.narinfo',
        'store/nar/a.nar.xz',
        'store/nix-cache-info',
      ]);

      const runs = await daemon.get('/hooks/runs');
      assert.equal(runs.status, 200);
      assert.equal(runs.body.enabled, true);
      assert.equal(runs.body.runs.length, 1);
      const [run] = runs.body.runs as HookRun[];
      assert.equal(run!.outcome, 'success');
      assert.equal(run!.exit_code, 0);
      assert.equal(run!.uploaded_count, 3);
      assert.equal(run!.keys_sent, 3);
      assert.equal(run!.attempt, 1);
      assert.ok(run!.duration_ms >= 0 && Date.parse(run!.finished_at) >= Date.parse(run!.started_at));
      assert.deepEqual(runs.body.pending, { uploaded_count: 0, first_upload_at: null });
      assert.match(await hookRunsMetric(daemon.app), /sync4loong_hook_runs_total\{outcome="success"\} 1/);

      // Same folder again: every file is skipped (same size), so nothing is reported.
      const again = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
      assert.equal(again.status, 200);
      await daemon.idle();
      await noRunToCome(daemon.app);
      assert.equal((await readFile(`${out}.runs`, 'utf8')).trim().split('\n').length, 1, 'skipped files ran nothing');
      const counts = await daemon.app.hooks.queue.getJobCounts('waiting', 'delayed', 'active');
      assert.deepEqual(counts, { waiting: 0, delayed: 0, active: 0 });
    } finally {
      await daemon.close();
    }
  });

  it('runs exactly once for 100 uploads over 2 s with a 1 s debounce', async () => {
    const record = await recorder();
    const daemon = await startApp(hookConfig(redis, await tempDir('bucket'), { ssh_command: record.command }));
    try {
      for (let i = 0; i < 100; i += 1) {
        daemon.app.hooks.notifyUpload(`store/${i}.narinfo`);
        await pace(20);
      }
      assert.equal(await record.started(), 0, 'no run while uploads keep coming');
      await waitFor(async () => (await record.runs()).length > 0, { timeoutMs: 10_000, what: 'a run' });
      await noRunToCome(daemon.app);
      const runs = await record.runs();
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.count, 100);
      assert.equal(runs[0]!.keys.length, 100);
      assert.equal(new Set(runs[0]!.keys).size, 100);
    } finally {
      await daemon.close();
    }
  });

  it('runs by the max wait during a steady stream (uploads every 300 ms for 5 s, debounce 1 s, max wait 2 s)', async () => {
    const record = await recorder();
    const daemon = await startApp(
      hookConfig(redis, await tempDir('bucket'), { ssh_command: record.command, ssh_max_wait_minutes: 2 * SECOND_IN_MINUTES }),
    );
    try {
      let uploads = 0;
      const streamEnd = Date.now() + 5000;
      while (Date.now() < streamEnd) {
        daemon.app.hooks.notifyUpload(`store/${uploads}.narinfo`);
        uploads += 1;
        await pace(300);
      }
      const duringStream = (await record.runs()).filter((run) => run.startedAt < streamEnd);
      assert.ok(duringStream.length >= 2, `expected at least 2 runs during the stream, got ${duringStream.length}`);
      await waitFor(async () => (await record.runs()).reduce((sum, run) => sum + run.count, 0) === uploads, {
        timeoutMs: 10_000,
        what: 'every upload to be reported',
      });
      await noRunToCome(daemon.app);
      const runs = await record.runs();
      assert.equal(
        runs.reduce((sum, run) => sum + run.count, 0),
        uploads,
        'each upload reported once',
      );
      assert.deepEqual(runs.flatMap((run) => run.keys).sort(), Array.from({ length: uploads }, (_, i) => `store/${i}.narinfo`).sort());
    } finally {
      await daemon.close();
    }
  });

  it('runs exactly once more for uploads that arrive during a run, even one started by the max wait mid-stream', async () => {
    // The run starts by the max wait while uploads still come, so BullMQ's deduplication
    // key is live when the next uploads arrive: only keepLastIfActive turns them into a run.
    const record = await recorder(2);
    const daemon = await startApp(
      hookConfig(redis, await tempDir('bucket'), { ssh_command: record.command, ssh_max_wait_minutes: 1.5 * SECOND_IN_MINUTES }),
    );
    try {
      const before: string[] = [];
      while ((await record.started()) === 0) {
        before.push(`store/before-${before.length}.narinfo`);
        daemon.app.hooks.notifyUpload(before.at(-1)!);
        await pace(200);
      }
      const during = ['store/during-0.narinfo', 'store/during-1.narinfo', 'store/during-2.narinfo'];
      for (const key of during) {
        daemon.app.hooks.notifyUpload(key);
        await pace(50);
      }
      await waitFor(async () => (await record.runs()).length === 2, { timeoutMs: 15_000, what: 'the second run' });
      await noRunToCome(daemon.app);
      const runs = await record.runs();
      assert.equal(runs.length, 2);
      assert.ok(runs[1]!.startedAt >= runs[0]!.startedAt + 2000, 'the second run starts after the first ended');
      for (const key of during) assert.ok(runs[1]!.keys.includes(key), `${key} reported by the second run`);
      assert.deepEqual(runs.flatMap((run) => run.keys).sort(), [...before, ...during].sort(), 'every upload reported once');
      assert.equal(runs[0]!.count + runs[1]!.count, before.length + during.length);
    } finally {
      await daemon.close();
    }
  });

  it('runs once for two daemons sharing one Redis', async () => {
    const record = await recorder(0.3);
    const raw = hookConfig(redis, await tempDir('bucket'), { ssh_command: record.command });
    const [one, two] = await Promise.all([startApp(raw), startApp(raw)]);
    try {
      for (let i = 0; i < 40; i += 1) {
        one.app.hooks.notifyUpload(`store/one-${i}`);
        two.app.hooks.notifyUpload(`store/two-${i}`);
        await pace(15);
      }
      await waitFor(async () => (await record.runs()).length > 0, { timeoutMs: 10_000, what: 'a run' });
      await noRunToCome(one.app, two.app);
      const runs = await record.runs();
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.count, 80);
      assert.equal(await one.app.hooks.queue.getGlobalConcurrency(), 1);
      const history = await two.get('/hooks/runs');
      assert.equal(history.body.runs.length, 1, 'both daemons see the one run');
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('kills a hanging command at the timeout with its children and grandchildren (even when they ignore SIGTERM)', async () => {
    const dir = await tempDir('hang');
    const script = join(dir, 'hang.sh');
    await writeFile(
      script,
      [
        'out="$1"',
        "trap '' TERM", // ignored signals are inherited: only SIGKILL ends this group
        'sleep 300 &',
        'echo $! > "$out/child.pid"',
        `sh -c 'sleep 300 & echo $! > "$1/grandchild.pid"; wait' sh "$out" &`,
        'echo $! > "$out/middle.pid"',
        'echo $$ > "$out/main.pid"',
        'echo hanging',
        'wait',
        '',
      ].join('\n'),
    );
    const daemon = await startApp(
      hookConfig(redis, await tempDir('bucket'), {
        ssh_command: `/bin/sh ${script} ${dir}`,
        ssh_timeout_minutes: SECOND_IN_MINUTES,
        ssh_max_retry: 0,
      }),
    );
    try {
      daemon.app.hooks.notifyUpload('store/x.narinfo');
      const pids = (await waitFor(
        async () => {
          const names = ['main', 'child', 'middle', 'grandchild'];
          const values = await Promise.all(names.map((name) => readFile(join(dir, `${name}.pid`), 'utf8').catch(() => '')));
          return values.every((value) => value.trim() !== '') ? values.map(Number) : false;
        },
        { timeoutMs: 10_000, what: 'the command to start its children' },
      )) as number[];
      for (const pid of pids) assert.ok(await isAlive(pid), `pid ${pid} runs before the timeout`);

      const run = (await waitFor(
        async () => {
          const reply = await daemon.get('/hooks/runs');
          return (reply.body.runs as HookRun[])[0] ?? false;
        },
        { timeoutMs: 10_000, what: 'the run to end' },
      )) as HookRun;
      assert.equal(run.outcome, 'timeout');
      assert.equal(run.signal, 'SIGKILL');
      assert.equal(run.will_retry, false);
      assert.match(run.stdout_tail, /hanging/);
      assert.ok(run.duration_ms >= 1400, `killed after timeout + grace, took ${run.duration_ms} ms`);
      for (const pid of pids) assert.equal(await isAlive(pid), false, `pid ${pid} is gone`);
      await waitFor(async () => (await daemon.app.hooks.queue.getJobCounts('failed')).failed === 1, { what: 'the job to stay failed' });
      assert.match(await hookRunsMetric(daemon.app), /sync4loong_hook_runs_total\{outcome="timeout"\} 1/);
    } finally {
      await daemon.close();
    }
  });

  it('retries a failing command ssh_max_retry times, keeps each try in the history and the job as failed', async () => {
    const daemon = await startApp(
      hookConfig(redis, await tempDir('bucket'), { ssh_command: `/bin/sh -c 'echo out; echo err >&2; exit 3'`, ssh_max_retry: 2 }),
    );
    try {
      daemon.app.hooks.notifyUpload('store/x.narinfo');
      await waitFor(async () => (await daemon.app.hooks.queue.getJobCounts('failed')).failed === 1, {
        timeoutMs: 10_000,
        what: 'the job to fail for good',
      });
      // The failed job is final (no retry left); its three tries are in the history.
      await waitFor(async () => ((await daemon.get('/hooks/runs')).body.runs as HookRun[]).length >= 3, {
        what: 'three tries in the history',
      });
      const { body } = await daemon.get('/hooks/runs');
      const runs = body.runs as HookRun[];
      assert.deepEqual(
        runs.map((run) => [run.attempt, run.outcome, run.exit_code, run.will_retry]),
        [
          [3, 'failure', 3, false],
          [2, 'failure', 3, true],
          [1, 'failure', 3, true],
        ],
      );
      assert.equal(runs[0]!.stdout_tail, 'out\n');
      assert.equal(runs[0]!.stderr_tail, 'err\n');
      assert.equal(runs[0]!.uploaded_count, 1, 'each retry reports the same upload');
      assert.equal(body.pending.uploaded_count, 1, 'a failed report stays pending for the next run');
      assert.match(await hookRunsMetric(daemon.app), /sync4loong_hook_runs_total\{outcome="failure"\} 3/);
    } finally {
      await daemon.close();
    }
  });

  it('does not retry a program that cannot start', async () => {
    const daemon = await startApp(
      hookConfig(redis, await tempDir('bucket'), { ssh_command: '/nonexistent/program arg', ssh_max_retry: 2 }),
    );
    try {
      daemon.app.hooks.notifyUpload('store/x.narinfo');
      await waitFor(async () => (await daemon.app.hooks.queue.getJobCounts('failed')).failed === 1, { timeoutMs: 10_000, what: 'failure' });
      // Failed is final: a retry would have left the job delayed instead.
      const [failed] = await daemon.app.hooks.queue.getJobs(['failed']);
      assert.equal(failed!.attemptsMade, 1, 'tried once');
      await waitFor(async () => ((await daemon.get('/hooks/runs')).body.runs as HookRun[]).length >= 1, { what: 'the try in the history' });
      const runs = (await daemon.get('/hooks/runs')).body.runs as HookRun[];
      assert.equal(runs.length, 1);
      assert.equal(runs[0]!.outcome, 'failure');
      assert.equal(runs[0]!.will_retry, false);
      assert.match(runs[0]!.error ?? '', /ENOENT/);
    } finally {
      await daemon.close();
    }
  });

  it('bounds the keys on stdin, survives a command that never reads them, and runs sh -c when ssh_shell is on', async () => {
    const dir = await tempDir('shell');
    const out = join(dir, 'out');
    const daemon = await startApp(
      hookConfig(redis, await tempDir('bucket'), {
        ssh_shell: true,
        // A pipeline and $VAR need the shell; the command does not read stdin.
        ssh_command: `echo "$SYNC4LOONG_UPLOADED_COUNT $SYNC4LOONG_KEYS_SENT" | tr ' ' : > ${out}`,
      }),
    );
    try {
      const total = MAX_REPORTED_KEYS + 2000;
      for (let i = 0; i < total; i += 1) daemon.app.hooks.notifyUpload(`store/${'x'.repeat(60)}-${i}.narinfo`);
      await waitFor(() => readFile(out, 'utf8'), { timeoutMs: 15_000, what: 'the command to run' });
      assert.equal((await readFile(out, 'utf8')).trim(), `${total}:${MAX_REPORTED_KEYS}`);
      const run = (await waitFor(async () => ((await daemon.get('/hooks/runs')).body.runs as HookRun[])[0] ?? false, {
        what: 'history',
      })) as HookRun;
      assert.equal(run.outcome, 'success');
      assert.equal(run.uploaded_count, total);
      assert.equal(run.keys_sent, MAX_REPORTED_KEYS);
    } finally {
      await daemon.close();
    }
  });

  it('keeps uploads notified while Redis is away and reports them once it is back', async () => {
    const ownRedis = await startRedis({ appendonly: true });
    const record = await recorder();
    const daemon = await startApp(hookConfig(ownRedis, await tempDir('bucket'), { ssh_command: record.command }));
    try {
      await ownRedis.stop();
      for (let i = 0; i < 3; i += 1) daemon.app.hooks.notifyUpload(`store/offline-${i}.narinfo`);
      const unavailable = await waitFor(
        async () => {
          const reply = await daemon.get('/hooks/runs');
          return reply.status === 503 ? reply : undefined;
        },
        { what: 'the daemon to see Redis away' },
      );
      assert.match(unavailable!.body.error, /Redis is not reachable/);
      await ownRedis.start();
      await waitFor(async () => (await record.runs()).length === 1, { timeoutMs: 20_000, what: 'the run after Redis came back' });
      const [run] = await record.runs();
      assert.equal(run!.count, 3);
      assert.deepEqual(run!.keys.sort(), ['store/offline-0.narinfo', 'store/offline-1.narinfo', 'store/offline-2.narinfo']);
    } finally {
      await daemon.close();
      await ownRedis.destroy();
    }
  });

  it('never enqueues anything when disabled or when the command is empty', async () => {
    const record = await recorder();
    const src = await tempDir();
    await writeTree(src, { 'a.narinfo': 'a', 'b.narinfo': 'b' });
    const disabled = await startApp(hookConfig(redis, await tempDir('bucket'), { ssh_command: record.command, enable_ssh_task: false }));
    const empty = await startApp(hookConfig(redis, await tempDir('bucket'), { ssh_command: '   ' }));
    try {
      for (const daemon of [disabled, empty]) {
        const reply = await daemon.post('/publish', [{ from: src, to: 'store/' }]);
        assert.equal(reply.status, 200);
        await daemon.idle();
        daemon.app.hooks.notifyUpload('store/direct.narinfo');
        // Recorded now: had a notification armed a run, its job would be counted below.
        await daemon.app.hooks.flush();
      }
      assert.equal(await record.started(), 0);
      for (const daemon of [disabled, empty]) {
        const counts = await daemon.app.hooks.queue.getJobCounts();
        assert.ok(
          Object.values(counts).every((count) => count === 0),
          JSON.stringify(counts),
        );
        const runs = await daemon.get('/hooks/runs');
        assert.equal(runs.body.enabled, false);
        assert.deepEqual(runs.body.runs, []);
      }
    } finally {
      await Promise.all([disabled.close(), empty.close()]);
    }
  });
});
