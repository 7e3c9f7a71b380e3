import { spawn } from 'node:child_process';

export interface TimedProcess {
  code: number | null;
  seconds: number;
  /** From /usr/bin/time -v; NaN when it did not report. */
  peakRssMb: number;
  /** User + system CPU seconds of the process, from /usr/bin/time -v; NaN when it did not report. */
  cpuSeconds: number;
  stdout: string;
  stderr: string;
}

/** Runs `node ARGS` under /usr/bin/time -v: exit code, wall seconds, peak RSS and both outputs. */
export function runTimed(args: readonly string[], env: NodeJS.ProcessEnv): Promise<TimedProcess> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn('/usr/bin/time', ['-v', process.execPath, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      const user = /User time \(seconds\): ([\d.]+)/.exec(stderr);
      const system = /System time \(seconds\): ([\d.]+)/.exec(stderr);
      resolve({
        code,
        seconds: (performance.now() - t0) / 1000,
        peakRssMb: rss ? Number(rss[1]) / 1024 : Number.NaN,
        cpuSeconds: user && system ? Number(user[1]) + Number(system[1]) : Number.NaN,
        stdout,
        stderr,
      });
    });
  });
}
