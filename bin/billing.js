#!/usr/bin/env node
// The `billing` command. It runs the compiled dist/ when that is a build of the sources as they
// are now (`npm ci` builds it: the `prepare` script), which starts in a fraction of the time
// TypeScript compilation through tsx takes. In a checkout without a build, or when a source is
// newer than the build (an edit after `npm run build`, a `git checkout`), it runs the sources
// through tsx instead: never old code, only a slower start (on a terminal it says so once).
// A deployment without src/ (the Docker image) runs dist/ as it is. Of a build, it runs the
// bundle (dist/bundle/src/cli/main.js, bin/bundle.js: a few files instead of ~700 modules to load, about
// 0.3 s less CPU at every start) when there is one, else dist/src/cli/main.js.
// BILLING_FROM_SOURCE=1 forces tsx (the benchmarks compare both).
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
const bundled = new URL('../dist/bundle/src/cli/main.js', import.meta.url);
const compiled = existsSync(bundled) ? bundled : new URL('../dist/src/cli/main.js', import.meta.url);

let useSource = existsSync(source);
if (useSource && process.env.BILLING_FROM_SOURCE !== '1') {
  const { distState } = await import('./dist-state.js');
  const state = distState();
  if (state === 'fresh') useSource = false;
  else if (state === 'stale' && process.stderr.isTTY) {
    process.stderr.write(
      'billing: src/ changed after the last build: running it through tsx (slower start); `npm run build` makes it fast again\n',
    );
  }
}
if (useSource) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(compiled.href);
}
