/**
 * CLI start-up benchmark (issue 9): the wall time of `node -e 0` (the floor: Node starting and
 * doing nothing), `billing --help` and `echo '{"role":"user"}' | billing license resolve`, each
 * run 7 times, interleaved so that machine load hits all three alike, and their medians and
 * ratios to the floor. `billing` is `node bin/billing.js` as `npx billing` runs it: the built
 * dist/ when it is up to date (`npm ci` builds it), which this benchmark checks first and builds
 * if needed. The same two commands through tsx (BILLING_FROM_SOURCE=1: what a checkout without
 * a build runs) are shown for comparison, 3 runs each. It also counts the modules `--help` loads.
 *
 *   npm run bench -- cli
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = path.join(ROOT, 'bin/billing.js');
const RUNS = 7;

interface Case {
  name: string;
  args: string[];
  input?: string;
  env?: Record<string, string>;
}

function wallMs(c: Case): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, c.args, {
      env: { ...process.env, ...c.env },
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${c.name} exited ${code}: ${stderr}`));
      else resolve(performance.now() - started);
    });
    child.stdin.end(c.input ?? '');
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function medians(cases: Case[], runs: number): Promise<number[]> {
  const times: number[][] = cases.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, c] of cases.entries()) times[k]?.push(await wallMs(c));
  }
  return times.map(median);
}

/** Distinct modules (files) the command loads, counted with a module-load hook. */
function modulesLoaded(args: string[]): number {
  const hook = `data:text/javascript,${encodeURIComponent(
    "export async function load(u,c,n){if(u.startsWith('file:'))process.stderr.write('LOADED '+u+'\\n');return n(u,c)}",
  )}`;
  const register = `data:text/javascript,${encodeURIComponent(
    `import{register}from'node:module';register(${JSON.stringify(hook)});`,
  )}`;
  const r = spawnSync(process.execPath, ['--import', register, BIN, ...args], { encoding: 'utf8' });
  return new Set(r.stderr.split('\n').filter((l) => l.startsWith('LOADED '))).size;
}

export async function run(): Promise<void> {
  const { distState } = (await import(path.join(ROOT, 'bin/dist-state.js'))) as {
    distState: () => 'fresh' | 'stale' | 'none';
  };
  const state = distState();
  if (state !== 'fresh') {
    console.log(`dist/ is ${state === 'none' ? 'not built' : 'older than the sources'}: npm run build`);
    const b = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (b.status !== 0 || distState() !== 'fresh')
      throw new Error('npm run build did not produce a fresh dist/');
  }
  const license: Case = {
    name: 'billing license resolve',
    args: [BIN, 'license', 'resolve'],
    input: '{"role":"user"}\n',
  };
  const help: Case = { name: 'billing --help', args: [BIN, '--help'] };
  const floor: Case = { name: 'node -e 0', args: ['-e', '0'] };
  const [f, h, l] = await medians([floor, help, license], RUNS);
  const source = { BILLING_FROM_SOURCE: '1' };
  const [hs, ls] = await medians(
    [
      { ...help, env: source },
      { ...license, env: source },
    ],
    3,
  );
  const row = (what: string, ms: number, runs: number) => ({
    what,
    runs,
    'median ms': Math.round(ms),
    'x node -e 0': Number((ms / (f as number)).toFixed(2)),
  });
  console.table([
    row('node -e 0 (the floor)', f as number, RUNS),
    row('billing --help (dist/)', h as number, RUNS),
    row('echo \'{"role":"user"}\' | billing license resolve (dist/)', l as number, RUNS),
    row('billing --help (tsx, no build)', hs as number, 3),
    row('billing license resolve (tsx, no build)', ls as number, 3),
  ]);
  console.log(
    `modules loaded: billing --help ${modulesLoaded(['--help'])}, billing license resolve ${modulesLoaded(['license', 'resolve'])}, billing run --help ${modulesLoaded(['run', '--help'])}`,
  );
  console.log('goal (issue 9): both dist/ figures within 4x node -e 0, measured in the same run');
}
