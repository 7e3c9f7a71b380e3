// Whether dist/ holds a build of the sources as they are now. Shared by bin/billing.js (which
// runs dist/ only then) and bin/build.js (which writes the stamp). Plain JavaScript, no
// dependencies: it runs before anything is compiled, and must cost a few milliseconds.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** What `npm run build` compiles (tsconfig.build.json's `include`) and the configs it reads. */
export const SOURCES = ['src', 'jobs', 'migrations'];
export const CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
/** Written by bin/build.js after a successful build, with the mtime of the build's start. */
export const STAMP = `${ROOT}dist/.build-stamp`;
export const ENTRY = `${ROOT}dist/src/cli/main.js`;
/** The same program bundled by bin/build.js (bin/bundle.js), when esbuild is installed. */
export const BUNDLE = `${ROOT}dist/bundle`;

function newestMtime(path) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(path, { withFileTypes: true, recursive: true });
  } catch {
    return statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  }
  newest = statSync(path).mtimeMs; // a deleted file changes its directory's mtime
  for (const e of entries) {
    const m = statSync(`${e.parentPath ?? e.path}/${e.name}`, { throwIfNoEntry: false })?.mtimeMs ?? 0;
    if (m > newest) newest = m;
  }
  return newest;
}

/** The newest modification time (ms) of any source, directory or config that the build reads. */
export function newestSource() {
  let newest = 0;
  for (const p of [...SOURCES, ...CONFIGS]) newest = Math.max(newest, newestMtime(`${ROOT}${p}`));
  return newest;
}

/** `fresh`: dist/ was built from the sources as they are; `stale`: built, but older; `none`. */
export function distState() {
  const stamp = statSync(STAMP, { throwIfNoEntry: false });
  if (!stamp || !statSync(ENTRY, { throwIfNoEntry: false })) return 'none';
  return newestSource() <= stamp.mtimeMs ? 'fresh' : 'stale';
}
