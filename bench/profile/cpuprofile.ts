/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`) over a time window: self time
 * by package, inclusive time by package (a sample counts for every package on its stack),
 * and the functions with the most self time.
 */
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time inside the window, ms (idle included). */
  totalMs: number;
  /** Sampled time not idle, ms. */
  busyMs: number;
  windowMatched: boolean;
  selfByCategory: Array<{ category: string; ms: number; percentOfBusy: number }>;
  inclusiveByCategory: Array<{ category: string; ms: number; percentOfBusy: number }>;
  topFunctions: Array<{ name: string; where: string; ms: number; percentOfBusy: number }>;
}

/** Which package (or part of Node) a frame belongs to. */
export function categoryOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName.startsWith('(')) return functionName; // (idle) (program) (garbage collector) (root)
    return 'native (syscall bindings, V8 builtins)';
  }
  const inModules = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (inModules) {
    const name = inModules[1]!;
    if (name.startsWith('@aws-sdk/') || name.startsWith('@smithy/') || name.startsWith('@aws-crypto/'))
      return 'AWS SDK (@aws-sdk, @smithy)';
    if (name === 'fast-xml-parser' || name === 'strnum') return 'AWS SDK (@aws-sdk, @smithy)';
    return name;
  }
  if (url.startsWith('node:')) {
    const segment = /^node:(?:internal\/)?_?([a-z0-9_]+)/.exec(url)?.[1] ?? 'other';
    if (segment.startsWith('http')) return 'node: http';
    if (segment.startsWith('stream')) return 'node: streams';
    if (['net', 'dns', 'stream_base_commons'].includes(segment)) return 'node: net';
    if (segment === 'process') return 'node: process (nextTick, microtasks)';
    return `node: ${segment}`;
  }
  if (url.includes('/dist/src/')) return 'sync4loong (dist/src)';
  return 'other';
}

function rank(map: Map<string, number>, busyMs: number) {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([category, us]) => ({ category, ms: us / 1000, percentOfBusy: (100 * us) / 1000 / busyMs }));
}

export async function summariseProfile(file: string, windowUs?: [number, number]): Promise<ProfileSummary> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);

  // Sample timestamps: startTime + running sum of deltas (µs, the same clock as process.hrtime).
  const timestamps: number[] = [];
  let t = profile.startTime;
  for (const delta of profile.timeDeltas) timestamps.push((t += delta));
  const windowMatched = windowUs !== undefined && windowUs[0] >= profile.startTime && windowUs[1] <= profile.endTime + 1_000_000;
  const inWindow = (time: number) => !windowMatched || (time >= windowUs![0] && time <= windowUs![1]);

  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const time = timestamps[i]!;
    if (!inWindow(time)) continue;
    // The time of sample i runs until the next sample.
    const duration = (timestamps[i + 1] ?? time) - time;
    const node = byId.get(profile.samples[i]!)!;
    const category = categoryOf(node.callFrame);
    total += duration;
    if (category === '(idle)') {
      idle += duration;
      continue;
    }
    self.set(category, (self.get(category) ?? 0) + duration);
    const fn = `${node.callFrame.functionName || '(anonymous)'}\t${node.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')}:${node.callFrame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + duration);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const c = categoryOf(byId.get(id)!.callFrame);
      if (!seen.has(c)) {
        seen.add(c);
        inclusive.set(c, (inclusive.get(c) ?? 0) + duration);
      }
    }
  }
  const busyMs = (total - idle) / 1000;
  inclusive.delete('(root)');
  return {
    totalMs: total / 1000,
    busyMs,
    windowMatched,
    selfByCategory: rank(self, busyMs),
    inclusiveByCategory: rank(inclusive, busyMs),
    topFunctions: [...functions.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 25)
      .map(([key, us]) => {
        const [name, where] = key.split('\t') as [string, string];
        return { name, where, ms: us / 1000, percentOfBusy: (100 * us) / 1000 / busyMs };
      }),
  };
}
