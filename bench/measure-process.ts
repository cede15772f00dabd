/**
 * Runs a command as a child process and measures it from the outside: wall
 * time, and peak resident memory read from `/proc/<pid>/status` (`VmHWM`, the
 * kernel's high-water mark of the process's RSS, worker threads included),
 * polled while the child lives. Needs nothing installed; where /proc is absent
 * the peak is `null`. A peak reached in the last poll interval before exit can
 * be missed; callers that also get the child's own figure take the larger.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcessMeasurement {
  code: number;
  wallSeconds: number;
  /** VmHWM in bytes, null where /proc cannot be read */
  peakRssBytes: number | null;
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

export function measureProcess(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; pollMs?: number } = {}): Promise<ProcessMeasurement> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let peak: number | null = null;
    const poll = (): void => {
      if (child.pid === undefined) return;
      const v = readPeakRss(child.pid);
      if (v !== null) peak = Math.max(peak ?? 0, v);
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
      resolvePromise({ code: code ?? -1, wallSeconds: (performance.now() - t0) / 1000, peakRssBytes: peak, stdout, stderr });
    });
  });
}
