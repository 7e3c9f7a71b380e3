import { createRequire } from 'node:module';
import type PgModule from 'pg';

/**
 * The pg driver, for every module of src/ (biome.json forbids importing 'pg' anywhere else).
 *
 * pg asks when it loads whether it runs in a Cloudflare Worker (`lib/stream.js`). On Node 20,
 * which has no `navigator` (Node 21+ has one), it then constructs a fetch `Response`, which makes
 * Node load its whole fetch implementation (undici): ~30 ms of CPU at the start of every command
 * that loads pg, for an answer that is always no here. So pg is loaded here, synchronously, with a
 * `navigator` defined for exactly that evaluation and removed again before anything else runs.
 * Done once where the driver is loaded rather than around one caller's import: any module that
 * reaches pg first (the export's COPY helpers do, through `query-script.ts`) would otherwise load
 * it without the guard (docs/performance/export.md, "The driver's load").
 */
function loadPg(): typeof PgModule {
  const require = createRequire(import.meta.url);
  if ('navigator' in globalThis) return require('pg') as typeof PgModule;
  Object.defineProperty(globalThis, 'navigator', {
    value: { userAgent: `Node.js/${process.versions.node}` },
    configurable: true,
  });
  try {
    return require('pg') as typeof PgModule;
  } finally {
    delete (globalThis as { navigator?: unknown }).navigator;
  }
}

const pg = loadPg();
export default pg;
