#!/usr/bin/env node
// Fails (exit 1) when a tracked file reads or links something outside the repository: the
// repository must be complete on its own (a clone with nothing beside it passes its tests, and
// every document it points to is in it). Checks every tracked text file under src/, test/,
// docs/, bin/, jobs/, migrations/ and the top-level files for
//   - a relative path ("../…") that, resolved from the file's own directory, leaves the repository;
//   - a mention of the outside contract folder (the shared folder beside the repository, its
//     spec folder) or of a spec folder at all.
// The patterns are assembled from pieces so that this file does not match them itself.
// Prints each offence as FILE:LINE: text.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim();
const self = path.relative(root, new URL(import.meta.url).pathname);
const files = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
  .split('\0')
  .filter((f) => f !== '' && f !== self && f !== '.ci/run')
  .filter((f) => /^(src|test|docs|bin|jobs|migrations)\//.test(f) || !f.includes('/'))
  .filter((f) => /\.(ts|js|mjs|cjs|md|json|ya?ml|sh)$|^Dockerfile$|^\.?[a-z-]+rc$/.test(f))
  .filter((f) => f !== 'package-lock.json');

const [SHARED, SPEC] = ['sha' + 'red', 'sp' + 'ec'];
const FORBIDDEN = [
  new RegExp(`\\.\\./${SHARED}`),
  new RegExp(`${SHARED}/${SPEC}`),
  new RegExp(`(^|[^\\w/.-])${SPEC}/`),
  new RegExp(`/work/${SHARED}`),
];
const RELATIVE = /(?:^|[^\w.])((?:\.\.\/)+)[\w.@-]*/g;

const offences = [];
for (const file of files) {
  let text;
  try {
    text = readFileSync(path.join(root, file), 'utf8');
  } catch {
    continue; // deleted in the working tree
  }
  const dir = path.dirname(path.join(root, file));
  text.split('\n').forEach((line, i) => {
    const where = `${file}:${i + 1}: ${line.trim().slice(0, 160)}`;
    if (FORBIDDEN.some((re) => re.test(line))) offences.push(where);
    for (const m of line.matchAll(RELATIVE)) {
      const target = path.resolve(dir, m[1]);
      if (target !== root && !target.startsWith(`${root}${path.sep}`)) offences.push(where);
    }
  });
}
if (offences.length > 0) {
  console.error(`check-standalone: ${offences.length} reference(s) outside the repository:`);
  for (const o of [...new Set(offences)]) console.error(`  ${o}`);
  process.exit(1);
}
console.log(`check-standalone: ${files.length} tracked files, nothing reaches outside the repository`);
