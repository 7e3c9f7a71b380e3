#!/usr/bin/env node
// The `billing` command. In a source checkout it runs the TypeScript directly through tsx, so
// `npx billing` works right after `npm ci` with no build step; a built image runs dist/.
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
}
