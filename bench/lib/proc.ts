/**
 * Readers of /proc (Linux only): CPU time and memory of the processes a benchmark run
 * involves, without touching them.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat times (almost always 100). */
export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

function statFields(pid: number | 'self'): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces; fields after it are space separated.
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU seconds the process has used so far. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(pid);
  // After the name: state(3) ppid(4) ... utime(14) stime(15): indices 11 and 12 here.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * CPU seconds of this process's waited-for children (cutime + cstime): a child's whole
 * CPU time lands here once it exited and was reaped, including its own reaped children
 * (the pyenv shim's python, rclone's threads).
 */
export function childrenCpuSeconds(): number {
  const fields = statFields('self');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

function statusKiB(pid: number, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/** Peak resident set size (VmHWM) in MiB. */
export function peakRssMiB(pid: number): number {
  return statusKiB(pid, 'VmHWM') / 1024;
}

/** Current resident set size (VmRSS) in MiB. */
export function rssMiB(pid: number): number {
  return statusKiB(pid, 'VmRSS') / 1024;
}

/** Measures CPU of long-lived processes over a window, as seconds and % of one core. */
export function cpuWindow(pids: Record<string, number>) {
  const started = performance.now();
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const childrenBefore = childrenCpuSeconds();
  return {
    /** CPU seconds used since the window opened, per process, plus reaped children. */
    stop(): { wallSeconds: number; cpu: Record<string, { seconds: number; percentOfCore: number }> } {
      const wallSeconds = (performance.now() - started) / 1000;
      const cpu: Record<string, { seconds: number; percentOfCore: number }> = {};
      for (const [name, pid] of Object.entries(pids)) {
        const seconds = cpuSeconds(pid) - (before[name] ?? 0);
        cpu[name] = { seconds, percentOfCore: (100 * seconds) / wallSeconds };
      }
      const children = childrenCpuSeconds() - childrenBefore;
      cpu.children = { seconds: children, percentOfCore: (100 * children) / wallSeconds };
      return { wallSeconds, cpu };
    },
  };
}

/** Machine facts for the report. */
export function machineInfo(): { cpus: number; cpuModel: string; memoryGiB: number } {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? 'unknown';
  const memKiB = Number(/^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const cpus = Number(execFileSync('nproc').toString().trim());
  return { cpus, cpuModel: model.trim(), memoryGiB: Math.round((memKiB / 1024 / 1024) * 10) / 10 };
}
