import { spawn } from 'node:child_process';
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Compiles the program into `dir` as the Dockerfile does and returns its entry point. Type
 * errors elsewhere in a tree under construction do not stop the emit, so only a missing entry
 * point is fatal.
 */
export async function buildDist(dir: string): Promise<string> {
  await new Promise<void>((resolve) => {
    const tsc = spawn(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        path.join(ROOT, 'tsconfig.build.json'),
        '--outDir',
        path.join(dir, 'dist'),
      ],
      { stdio: 'ignore' },
    );
    tsc.on('close', () => resolve());
  });
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}');
  const main = path.join(dir, 'dist/src/cli/main.js');
  if (!existsSync(main)) throw new Error(`tsc did not emit ${main}`);
  return main;
}

/**
 * Bundles the compiled entry `main` (from `buildDist`) as `npm run build` does (bin/bundle.js)
 * into `dir/dist/bundle` and returns the bundle's entry point: what `billing` runs.
 */
export async function bundleDist(dir: string, main: string): Promise<string> {
  // @ts-expect-error bin/bundle.js is plain JavaScript without types
  const { bundleCli } = (await import('../../bin/bundle.js')) as {
    bundleCli: (entry: string, outDir: string) => Promise<string | null>;
  };
  const bundled = await bundleCli(main, path.join(dir, 'dist/bundle'));
  if (bundled === null) throw new Error('esbuild is not installed: no bundle');
  return bundled;
}
