// Bundles the compiled CLI (dist/src/cli/main.js) into dist/bundle/ with esbuild: a few files
// instead of the ~700 modules Node otherwise resolves and loads one by one at every start
// (kysely alone is 280 ESM files: ~0.3 s of CPU to load, ~0.04 s bundled; zod 0.19 s -> 0.09 s).
// Each command stays a chunk of its own, loaded on demand as from dist/src (code splitting
// keeps the registry's dynamic imports). Only the pure-JavaScript packages below go into the
// bundle; every other package stays an import of node_modules (PGlite's WebAssembly and data
// files, pino's worker transports, fastify, BullMQ: loaded as they are, where they are).
// docs/performance/export.md, "The CLI process": why a bundle and not only lazy imports.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * Packages bundled: plain ES modules or CommonJS without files read at run time. pg and the
 * packages it requires (and pg-copy-streams): ~40 CommonJS files resolved and read one by one
 * took ~36 ms at every start that loads the driver, ~18 ms from the bundle (docs/performance/
 * export.md, "The driver's load"). Its optional `pg-native` and `pg-cloudflare`, required only
 * when asked for, stay outside.
 */
export const BUNDLED = [
  'kysely',
  'zod',
  'commander',
  'luxon',
  'pg',
  'pg-connection-string',
  'pg-copy-streams',
  'pg-int8',
  'pg-pool',
  'pg-protocol',
  'pg-types',
  'pgpass',
  'postgres-array',
  'postgres-bytea',
  'postgres-date',
  'postgres-interval',
  'split2',
  'xtend',
];

const packageOf = (spec) => {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
};

/**
 * Bundles the compiled `entry` (`…/dist/src/cli/main.js`) into `outDir`, keeping the paths below
 * dist/: `outDir/src/cli/main.js` and each command as `outDir/src/cli/commands/NAME.command.js`
 * (entry points of their own, so a run shows which command it loaded, as from dist/src; shared
 * code goes into chunks). Returns the bundle's entry, or null without esbuild (a production
 * install: `npm ci --omit=dev`); throws when esbuild fails.
 */
export async function bundleCli(entry, outDir) {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    return null;
  }
  if (!existsSync(entry)) throw new Error(`bundle: no compiled entry ${entry}`);
  rmSync(outDir, { recursive: true, force: true });
  const commands = path.join(path.dirname(entry), 'commands');
  const outbase = path.resolve(path.dirname(entry), '../..');
  await esbuild.build({
    entryPoints: [
      entry,
      ...readdirSync(commands)
        .filter((f) => f.endsWith('.command.js'))
        .map((f) => path.join(commands, f)),
    ],
    outbase,
    outdir: outDir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    chunkNames: 'chunks/[name]-[hash]',
    logLevel: 'warning',
    // commander is CommonJS: its require() of Node's modules needs a real require in an ES module.
    banner: {
      js: "import { createRequire as __billingRequire } from 'node:module'; const require = __billingRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'keep-packages-outside',
        setup(build) {
          // A bare import of a package not in BUNDLED stays an import (resolved from
          // node_modules at run time, as from dist/src).
          build.onResolve({ filter: /^[^./]/ }, (args) => {
            if (args.path.startsWith('node:')) return { path: args.path, external: true };
            if (path.isAbsolute(args.path)) return undefined;
            return BUNDLED.includes(packageOf(args.path)) ? undefined : { path: args.path, external: true };
          });
        },
      },
    ],
  });
  return path.join(outDir, path.relative(outbase, entry));
}
