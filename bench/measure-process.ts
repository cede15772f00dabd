/**
 * Runs a command as a child process and measures it from the outside: wall
 * time, peak resident memory read from `/proc/<pid>/status` (`VmHWM`, the
 * kernel's high-water mark of the process's RSS, worker threads included) and
 * CPU time from `/proc/<pid>/stat` (user + system, all threads), polled while
 * the child lives. Needs nothing installed; where /proc is absent both are
 * `null`. What happens in the last poll interval before exit can be missed;
 * callers that also get the child's own figure take the larger.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcessMeasurement {
  code: number;
  wallSeconds: number;
  /** VmHWM in bytes, null where /proc cannot be read */
  peakRssBytes: number | null;
  /** user + system CPU seconds of all the child's threads, null where /proc cannot be read */
  cpuSeconds: number | null;
  stdout: string;
  stderr: string;
}

/** `VmHWM` of a live process in bytes, or null (no /proc, or the process is gone). */
export function readPeakRss(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m?.[1] === undefined ? null : Number(m[1]) * 1024;
  } catch {
    return null;
  }
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every Linux port Node supports). */
const USER_HZ = 100;

/** User + system CPU seconds of a live process (all threads), or null. */
export function readCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // fields after the parenthesised command name (which may hold blanks): state is field 3, utime 14, stime 15
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / USER_HZ : null;
  } catch {
    return null;
  }
}

export function measureProcess(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; pollMs?: number } = {}): Promise<ProcessMeasurement> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak: number | null = null;
    let cpu: number | null = null;
    const poll = (): void => {
      if (child.pid === undefined) return;
      const v = readPeakRss(child.pid);
      if (v !== null) peak = Math.max(peak ?? 0, v);
      const c = readCpuSeconds(child.pid);
      if (c !== null) cpu = Math.max(cpu ?? 0, c);
    };
    const timer = setInterval(poll, options.pollMs ?? 20);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    // 'exit' comes before the pipes close; the last poll may still see the process
    child.on('exit', poll);
    child.on('close', (code) => {
      clearInterval(timer);
      resolvePromise({ code: code ?? -1, wallSeconds: (performance.now() - t0) / 1000, peakRssBytes: peak, cpuSeconds: cpu, stdout, stderr });
    });
  });
}
