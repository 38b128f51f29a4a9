/** Medians, ratios and the markdown of RESULTS.md. */
import type { Verification } from './verify.js';

export type Scenario = 'small' | 'mixed' | 'large' | 'noop' | 'huge';

export interface RunRecord {
  scenario: Scenario;
  contender: string;
  repeat: number;
  /** The timed figure: publish until every job done (daemon), command wall time (peers), internal time (bare SDK script). */
  seconds: number;
  /** Process wall time of a peer (start-up included); equals `seconds` for the daemon. */
  wallSeconds: number;
  files: number;
  bytes: number;
  cpu: Record<string, { seconds: number; percentOfCore: number }>;
  daemonPeakRssMiB?: number | undefined;
  verification?: Verification | undefined;
  extra?: Record<string, unknown>;
}

export function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const MiB = 1024 * 1024;

function fmt(value: number | undefined, digits = 2): string {
  return value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);
}

function grouped(runs: RunRecord[], scenario: Scenario): Map<string, RunRecord[]> {
  const groups = new Map<string, RunRecord[]>();
  for (const run of runs.filter((r) => r.scenario === scenario)) {
    groups.set(run.contender, [...(groups.get(run.contender) ?? []), run]);
  }
  return groups;
}

const CONTENDER_LABEL: Record<string, string> = {
  daemon: '**sync4loong daemon** (POST /publish → all jobs done)',
  rclone: 'rclone copy (defaults: 4 transfers, 8 checkers)',
  'rclone-16': 'rclone copy --transfers 16 --checkers 16',
  'aws-cp': 'aws s3 cp --recursive',
  'aws-sync': 'aws s3 sync',
  'sdk-32': 'bare AWS SDK script, 32 in flight',
};

const label = (contender: string) =>
  CONTENDER_LABEL[contender] ??
  (contender.startsWith('daemon@') ? `sync4loong daemon with \`${contender.slice(7).replace(/\+/g, ', ')}\`` : contender);
const isDaemon = (contender: string) => contender === 'daemon' || contender.startsWith('daemon@');

/** Table of an upload scenario (small, mixed, large). */
export function uploadTable(runs: RunRecord[], scenario: Scenario): string {
  const groups = grouped(runs, scenario);
  if (groups.size === 0) return '';
  const med = (contender: string) => median((groups.get(contender) ?? []).map((r) => r.seconds));
  const reference = { rclone: med('rclone'), rclone16: med('rclone-16'), sdk: med('sdk-32') };
  const lines = [
    '| contender | time s (median) | runs | files/s | MiB/s | speed vs rclone | vs rclone 16/16 | vs bare SDK | client CPU s | s3rver CPU % of a core | redis CPU % | daemon peak RSS MiB (idle) | verified |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const [contender, list] of groups) {
    const seconds = med(contender);
    const first = list[0]!;
    const clientCpu = median(list.map((r) => (isDaemon(contender) ? r.cpu.daemon?.seconds : r.cpu.children?.seconds) ?? NaN));
    const rss = isDaemon(contender) ? median(list.map((r) => r.daemonPeakRssMiB ?? NaN)) : undefined;
    const idle = median(list.map((r) => (r.extra?.idleRssMiB as number | undefined) ?? NaN));
    const verified = list.every((r) => r.verification?.ok) ? 'yes' : `**NO** (${list.filter((r) => !r.verification?.ok).length} bad)`;
    lines.push(
      `| ${label(contender)} | ${fmt(seconds)} | ${list.length} | ${fmt(first.files / seconds, 0)} | ${fmt(first.bytes / MiB / seconds, 1)} | ` +
        `${fmt(reference.rclone / seconds)}x | ${fmt(reference.rclone16 / seconds)}x | ${fmt(reference.sdk / seconds)}x | ` +
        `${fmt(clientCpu)} | ${fmt(median(list.map((r) => r.cpu.s3rver?.percentOfCore ?? NaN)), 0)} | ` +
        `${fmt(median(list.map((r) => r.cpu.redis?.percentOfCore ?? NaN)), 0)} | ${rss === undefined ? '–' : `${fmt(rss, 0)} (${fmt(idle, 0)})`} | ${verified} |`,
    );
  }
  return lines.join('\n');
}

export function noopTable(runs: RunRecord[]): string {
  const groups = grouped(runs, 'noop');
  if (groups.size === 0) return '';
  const med = (contender: string) => median((groups.get(contender) ?? []).map((r) => r.seconds));
  const lines = [
    '| contender | time s (median) | runs | vs aws s3 sync | vs rclone re-run | client CPU s | s3rver CPU % | nothing uploaded |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const [contender, list] of groups) {
    const seconds = med(contender);
    const clientCpu = median(list.map((r) => (contender === 'daemon' ? r.cpu.daemon?.seconds : r.cpu.children?.seconds) ?? NaN));
    const untouched = list.every((r) => r.verification?.ok && r.extra?.uploaded !== true) ? 'yes' : '**NO**';
    lines.push(
      `| ${label(contender)} | ${fmt(seconds)} | ${list.length} | ${fmt(med('aws-sync') / seconds)}x | ${fmt(med('rclone') / seconds)}x | ` +
        `${fmt(clientCpu)} | ${fmt(median(list.map((r) => r.cpu.s3rver?.percentOfCore ?? NaN)), 0)} | ${untouched} |`,
    );
  }
  return lines.join('\n');
}

export function hugeTable(runs: RunRecord[]): string {
  const list = runs.filter((r) => r.scenario === 'huge');
  if (list.length === 0) return '';
  const m = (pick: (r: RunRecord) => number | undefined) => median(list.map((r) => pick(r) ?? NaN));
  const files = list[0]!.files;
  return [
    '| measure | median | runs |',
    '|---|---|---|',
    `| files enqueued | ${files} | ${list.length} |`,
    `| POST /publish reply, s | ${fmt(m((r) => r.seconds))} | |`,
    `| files enqueued per second | ${fmt(
      m((r) => r.files / r.seconds),
      0,
    )} | |`,
    `| daemon peak RSS (VmHWM), MiB | ${fmt(
      m((r) => r.daemonPeakRssMiB),
      0,
    )} | |`,
    `| daemon RSS idle before the publish, MiB | ${fmt(
      m((r) => r.extra?.idleRssMiB as number),
      0,
    )} | |`,
    `| daemon RSS after the reply, MiB | ${fmt(
      m((r) => r.extra?.rssAfterMiB as number),
      0,
    )} | |`,
    `| daemon CPU during the publish, s | ${fmt(m((r) => r.cpu.daemon?.seconds))} | |`,
    `| redis CPU during the publish, s | ${fmt(m((r) => r.cpu.redis?.seconds))} | |`,
    `| Redis used_memory per queued file, bytes | ${fmt(
      m((r) => r.extra?.redisBytesPerFile as number),
      0,
    )} | |`,
    `| of which the job hash (MEMORY USAGE of one job), bytes | ${fmt(
      m((r) => r.extra?.jobHashBytes as number),
      0,
    )} | |`,
  ].join('\n');
}
