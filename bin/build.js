#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm ci` builds too): compiles src/, jobs/ and migrations/
// to dist/ with tsc (tsconfig.build.json) and, when tsc succeeds, writes dist/.build-stamp with
// the time the build STARTED, so a source saved during the build counts as newer than dist/.
// bin/billing.js runs dist/ only while no source is newer than the stamp.
// Then it bundles dist/src/cli/main.js into dist/bundle/ (bin/bundle.js: esbuild, a dev dependency),
// which bin/billing.js runs when present: the same code, loaded from a few files.
//
// `--if-possible` (prepare): never fails the install. Without TypeScript (`npm ci --omit=dev`)
// or without the sources (a Docker layer that copies package.json alone) it does nothing; a
// failed build leaves no stamp, so bin/billing.js keeps running the sources through tsx.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { bundleCli } from './bundle.js';
import { BUNDLE, ENTRY, ROOT, STAMP } from './dist-state.js';

const ifPossible = process.argv.includes('--if-possible');
const say = (text) => process.stderr.write(`build: ${text}\n`);

if (!existsSync(`${ROOT}tsconfig.build.json`) || !existsSync(`${ROOT}src/cli/main.ts`)) {
  say('no sources to build here; skipped');
  process.exit(0);
}
const tsc = `${ROOT}node_modules/typescript/bin/tsc`;
if (!existsSync(tsc)) {
  if (!ifPossible) {
    say('TypeScript is not installed (npm ci installs it)');
    process.exit(1);
  }
  say('TypeScript is not installed (production install); skipped');
  process.exit(0);
}

const started = new Date();
rmSync(STAMP, { force: true });
const result = spawnSync(process.execPath, [tsc, '-p', `${ROOT}tsconfig.build.json`], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (result.status !== 0) {
  say(
    `tsc failed (exit ${result.status ?? result.signal}): dist/ is not marked as built, so \`billing\` runs the sources through tsx`,
  );
  process.exit(ifPossible ? 0 : (result.status ?? 1));
}
// The bundle (bin/bundle.js) starts faster; without it (no esbuild, or esbuild failed) billing
// runs dist/src as compiled, which is the same code.
// A bundle of an earlier build must never outlive it: removed first, whatever happens next.
rmSync(BUNDLE, { recursive: true, force: true });
try {
  if ((await bundleCli(ENTRY, BUNDLE)) === null)
    say('esbuild is not installed: no bundle, billing runs dist/src');
} catch (error) {
  rmSync(BUNDLE, { recursive: true, force: true });
  say(`bundle failed (${error?.message ?? error}): billing runs dist/src`);
}
writeFileSync(STAMP, `${started.toISOString()}\n`);
utimesSync(STAMP, started, started);
say(`dist/ built in ${((Date.now() - started.getTime()) / 1000).toFixed(1)} s`);
