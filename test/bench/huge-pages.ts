/**
 * BENCH_HUGE_PAGES=1: the benchmarks' PostgreSQL servers run with `huge_pages=on`, and this
 * reserves the pages for them (`vm.nr_hugepages`, root only) until the run ends.
 *
 * Why it is measured: on this machine (a VM, 4 kB pages) a backend's first touch of a shared
 * buffer costs several times its later reads: a fresh session read 1,000,000 charge lines
 * (150 MB of buffers) in 0.6-0.9 s, the same session again in 0.11 s; with huge pages, 0.11-0.19 s
 * the first time (docs/performance/billing.md). Every `billing` CLI command is a fresh session.
 * Production PostgreSQL with gigabytes of shared_buffers is normally run with huge pages; the
 * figures are printed both ways, each against its floor measured on the same server.
 */
import { readFileSync, writeFileSync } from 'node:fs';

const SYSCTL = '/proc/sys/vm/nr_hugepages';
/** 2 MB pages for one server of shared_buffers 1 GB (~1.13 GB of shared memory) and a margin. */
const PAGES_PER_SERVER = 640;

/** Reserves the pages when asked; returns how to give them back. */
export function reserveHugePages(): () => void {
  if (process.env.BENCH_HUGE_PAGES !== '1') return () => {};
  const before = Number(readFileSync(SYSCTL, 'utf8').trim());
  writeFileSync(SYSCTL, String(before + PAGES_PER_SERVER));
  const got = Number(readFileSync(SYSCTL, 'utf8').trim());
  if (got < before + PAGES_PER_SERVER) {
    writeFileSync(SYSCTL, String(before));
    throw new Error(
      `BENCH_HUGE_PAGES=1: could reserve only ${got - before} of ${PAGES_PER_SERVER} huge pages`,
    );
  }
  console.log(`huge pages: ${PAGES_PER_SERVER} reserved for the run (vm.nr_hugepages ${before} -> ${got})`);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    writeFileSync(SYSCTL, String(before));
  };
  process.once('exit', release);
  return release;
}
