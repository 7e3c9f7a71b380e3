/**
 * `npm run bench`: runs every benchmark in test/bench/ (files named *.bench.ts, each exporting
 * `run(): Promise<void>` that prints its figures next to the PostgreSQL/Redis limits it measured
 * in the same run). `npm run bench -- ingest` runs only the files whose name contains "ingest";
 * `npm run bench -- cli` the CLI start-up times against `node -e 0` (cli.bench.ts).
 * Benchmarks are not tests: nothing here asserts on time.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { reserveHugePages } from './huge-pages.ts';

const dir = fileURLToPath(new URL('.', import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts') && f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no benchmark matches "${filter}" in ${dir}`);
  process.exit(2);
}
const release = reserveHugePages();
try {
  for (const file of files) {
    console.log(`\n=== ${file} ===`);
    const mod = (await import(new URL(file, import.meta.url).href)) as { run: () => Promise<void> };
    await mod.run();
  }
} finally {
  release();
}
