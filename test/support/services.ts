/**
 * Finds or starts the PostgreSQL and Redis the integration tests, fault suite and benchmarks
 * run against, in this order: DATABASE_URL / REDIS_URL from the environment; testcontainers
 * when a Docker engine answers; else the local `postgres` and `redis-server` binaries started
 * in a temp dir on free loopback ports. When none is possible it throws and says what is missing.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { waitFor } from './wait.ts';

const PG_BIN_DIRS = [
  '/usr/lib/postgresql/17/bin',
  '/usr/lib/postgresql/16/bin',
  '/usr/lib/postgresql/15/bin',
];

export interface Service {
  url: string;
  source: 'environment' | 'testcontainers' | 'local binary';
  stop(): Promise<void>;
}

export interface LocalPostgres extends Service {
  dataDir: string;
  port: number;
  /** Stops the server abruptly (like a crash) and starts it again on the same port and data. */
  restart(downMs?: number): Promise<void>;
  kill(): void;
  start(): Promise<void>;
}

export interface LocalRedis extends Service {
  port: number;
  restart(downMs?: number): Promise<void>;
  kill(): void;
  start(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function findPgBin(): string | undefined {
  return PG_BIN_DIRS.find((dir) => existsSync(path.join(dir, 'postgres')));
}

function whichSync(cmd: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * initdb and postgres refuse to run as root: run them as the `postgres` user then. The process
 * is spawned with that uid directly (not through runuser/su) so that our signals reach it.
 */
function postgresUser(): { uid: number; gid: number } | undefined {
  if (!isRoot()) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface PostgresOptions {
  /** Durability settings; tests turn fsync off for speed, benchmarks keep the machine's defaults. */
  durable?: boolean;
  sharedBuffers?: string;
}

export async function startLocalPostgres(options: PostgresOptions = {}): Promise<LocalPostgres> {
  const bin = findPgBin();
  if (!bin) {
    throw new Error(
      `PostgreSQL is missing: DATABASE_URL is not set, no Docker engine answers, and no server binaries were found in ${PG_BIN_DIRS.join(', ')} (install postgresql-15).`,
    );
  }
  const dataDir = mkdtempSync(path.join(tmpdir(), 'billing-pg-'));
  const user = postgresUser();
  if (user) execFileSync('chown', [`${user.uid}:${user.gid}`, dataDir]);
  const asUser = user ? { uid: user.uid, gid: user.gid, env: { ...process.env, HOME: dataDir } } : {};
  execFileSync(
    path.join(bin, 'initdb'),
    ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C.UTF-8'],
    { stdio: 'pipe', ...asUser },
  );
  const port = await freePort();
  const settings = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dataDir}`,
    '-c',
    'max_connections=300',
    '-c',
    `shared_buffers=${options.sharedBuffers ?? '256MB'}`,
    // Off unless a benchmark asks (BENCH_HUGE_PAGES=1, test/bench/huge-pages.ts reserves them):
    // with the default `try`, a server would take whatever huge pages the machine has reserved.
    '-c',
    `huge_pages=${process.env.BENCH_HUGE_PAGES === '1' ? 'on' : 'off'}`,
    ...(options.durable
      ? []
      : ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']),
  ];
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const server = await superviseLocal({
    spawn: () =>
      spawn(path.join(bin, 'postgres'), ['-D', dataDir, '-p', String(port), ...settings], {
        stdio: 'ignore',
        ...asUser,
      }),
    ready: async () => (await canConnect(port)) && pgReady(bin, port),
    what: `PostgreSQL on port ${port}`,
    // SIGQUIT is PostgreSQL's immediate shutdown: no checkpoint, like a crash.
    killSignal: 'SIGQUIT',
    stopSignal: 'SIGINT',
    dir: dataDir,
  });
  return { url, source: 'local binary', dataDir, port, ...server };
}

function pgReady(bin: string, port: number): boolean {
  try {
    execFileSync(path.join(bin, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function startLocalRedis(options: { appendOnly?: boolean } = {}): Promise<LocalRedis> {
  const bin = whichSync('redis-server');
  if (!bin) {
    throw new Error(
      'Redis is missing: REDIS_URL is not set, no Docker engine answers, and `redis-server` is not on PATH (apt-get install -y redis-server).',
    );
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-redis-'));
  const port = await freePort();
  const server = await superviseLocal({
    spawn: () =>
      spawn(
        bin,
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          options.appendOnly ? 'yes' : 'no',
          '--appendfsync',
          'everysec',
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      ),
    ready: () => canConnect(port),
    what: `Redis on port ${port}`,
    killSignal: 'SIGKILL',
    stopSignal: 'SIGTERM',
    dir,
  });
  return { url: `redis://127.0.0.1:${port}`, source: 'local binary', port, ...server };
}

interface Supervised {
  start(): Promise<void>;
  kill(): void;
  restart(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Runs a local server binary: started now and waited for until `ready`; `kill` (like a crash,
 * `killSignal`), `restart` (kill, wait `downMs`, start on the same port and data), `stop`
 * (`stopSignal`, then its directory removed). Killed when the test process exits.
 */
async function superviseLocal(options: {
  spawn: () => ChildProcess;
  ready: () => Promise<boolean>;
  what: string;
  killSignal: NodeJS.Signals;
  stopSignal: NodeJS.Signals;
  dir: string;
}): Promise<Supervised> {
  let child: ChildProcess | undefined;
  const start = async () => {
    child = options.spawn();
    await waitFor(options.ready, options.what);
  };
  const kill = () => {
    if (child && child.exitCode === null) child.kill(options.killSignal);
  };
  const waitExit = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise((r) => c.once('exit', r));
  };
  await start();
  const onExit = () => kill();
  process.once('exit', onExit);
  return {
    start,
    kill,
    async restart(downMs = 1000) {
      kill();
      await waitExit();
      await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async stop() {
      process.off('exit', onExit);
      if (child && child.exitCode === null) child.kill(options.stopSignal);
      await waitExit();
      rmSync(options.dir, { recursive: true, force: true });
    },
  };
}

/** True when a Docker engine answers on its socket within a second (the client alone is not enough). */
export async function dockerAnswers(): Promise<boolean> {
  const socketPath = process.env.DOCKER_HOST?.startsWith('unix://')
    ? process.env.DOCKER_HOST.slice('unix://'.length)
    : '/var/run/docker.sock';
  if (!existsSync(socketPath)) return false;
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/_ping', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.on('error', () => resolve(false));
  });
}

async function containerPostgres(): Promise<Service> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const c = await new PostgreSqlContainer('postgres:15-alpine').start();
  return { url: c.getConnectionUri(), source: 'testcontainers', stop: async () => void (await c.stop()) };
}

async function containerRedis(): Promise<Service> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const c = await new RedisContainer('redis:7-alpine').start();
  return { url: c.getConnectionUrl(), source: 'testcontainers', stop: async () => void (await c.stop()) };
}

const fromEnv = (url: string): Service => ({ url, source: 'environment', stop: async () => {} });

export async function resolvePostgres(options: PostgresOptions = {}): Promise<Service> {
  if (process.env.DATABASE_URL) return fromEnv(process.env.DATABASE_URL);
  if (await dockerAnswers()) return containerPostgres();
  return startLocalPostgres(options);
}

export async function resolveRedis(): Promise<Service> {
  if (process.env.REDIS_URL) return fromEnv(process.env.REDIS_URL);
  if (await dockerAnswers()) return containerRedis();
  return startLocalRedis();
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
