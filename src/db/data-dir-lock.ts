import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.ts';

/** The lock file of an embedded data directory; it holds the pid of the process using it. */
export const LOCK_FILE = 'billing.lock';

/** Lock files this process holds (a pid in a file written by an earlier life of the same pid, as pid 1 in a container, is stale). */
const held = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holderOf(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock of the embedded database in `dataDir`: PGlite must never be opened by two
 * processes at once (the second one aborts, the files may be damaged). The lock file is created
 * exclusively with this process's pid; one left by a process that no longer runs (a crash, a
 * SIGKILL) is taken over. Another live holder is bad usage (exit 2) naming the directory and its
 * pid. Returns the release, which removes the file if it is still ours (also run at exit).
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      held.add(file);
      const release = () => {
        process.off('exit', release);
        held.delete(file);
        if (holderOf(file) === process.pid) rmSync(file, { force: true });
      };
      process.on('exit', release);
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = holderOf(file);
    const ours = holder === process.pid;
    if (holder !== undefined && (ours ? held.has(file) : isAlive(holder))) {
      const who = ours ? 'this process' : `process ${holder}`;
      throw new InputError(
        `the embedded database in ${dataDir} is in use by ${who} (lock file ${file}); stop that process first, or use PostgreSQL (DATABASE_URL) to run several processes`,
        'DATA_DIR_LOCKED',
      );
    }
    // A stale lock (its process is gone, or the file is empty or unreadable): take it over.
    rmSync(file, { force: true });
  }
  throw new InputError(
    `cannot take the lock file ${file}: another process keeps taking it`,
    'DATA_DIR_LOCKED',
  );
}
