import { isIP } from 'node:net';
import { InputError } from './errors.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Every environment variable the system reads, validated once at start-up (`loadConfig`). */
export interface Config {
  DATABASE_URL?: string | undefined;
  DATABASE_POOL_SIZE: number;
  REDIS_URL?: string | undefined;
  BILLING_DATA_DIR: string;
  LOG_LEVEL: (typeof LOG_LEVELS)[number];
  BILLING_SCHEDULE: string;
  BILLING_QUEUE_PREFIX: string;
  BILLING_STREAM: string;
  BILLING_STREAM_GROUP: string;
  BILLING_WORKER_CONCURRENCY: number;
  /** The most tenant-days one `plan-night` queues; the rest follows at the next plans. */
  BILLING_PLAN_MAX_JOBS: number;
  /** The most tenant-days one `bill-days` job carries (the plan's chunks). */
  BILLING_PLAN_CHUNK_DAYS: number;
  BILLING_ADMIN_USER: string;
  BILLING_ADMIN_PASSWORD?: string | undefined;
  PORT: number;
  HOST: string;
  /** `billing serve` and `billing worker`: serve GET /metrics and GET /healthz on this port (`--metrics-port` wins); unset = none. */
  BILLING_METRICS_PORT?: number | undefined;
  /** Bind address of that status port: loopback unless Prometheus scrapes from elsewhere. */
  BILLING_METRICS_HOST: string;
  /** How often the gauges read from PostgreSQL and Redis (lag, queue counts) are refreshed, in ms. */
  BILLING_METRICS_REFRESH_MS: number;
  /** `billing serve`: limits on a client, in ms (see docs/operations.md, HTTP limits). */
  BILLING_HTTP_REQUEST_TIMEOUT_MS: number;
  BILLING_HTTP_HEADERS_TIMEOUT_MS: number;
  BILLING_HTTP_KEEPALIVE_TIMEOUT_MS: number;
  BILLING_HTTP_IDLE_TIMEOUT_MS: number;
  /**
   * `billing serve` behind a reverse proxy: the proxies' addresses or CIDR ranges, comma-separated.
   * A request from one of them is taken to come from the client its `X-Forwarded-For` names (the
   * failed-authentication throttle counts per client, not per proxy). Unset: the TCP peer.
   */
  BILLING_HTTP_TRUSTED_PROXIES: string[];
}

/**
 * One variable's rule: its value (undefined when unset or empty) to what the configuration holds,
 * or a thrown `Refused` naming what is wrong. Written by hand rather than with zod: every CLI
 * command loads the configuration first, and zod's module alone cost ~0.1 s of CPU at each start
 * (docs/performance/export.md, "Issue 11, tenth step").
 */
type Rule<T> = (value: string | undefined) => T;

class Refused extends Error {}

/** The text as set (an empty value counts as unset, so it has a character at least), or `fallback`. */
const text =
  (fallback: string): Rule<string> =>
  (value) =>
    value ?? fallback;

const optionalText =
  (minLength: number, message: string): Rule<string | undefined> =>
  (value) => {
    if (value !== undefined && value.length < minLength) throw new Refused(message);
    return value;
  };

const url =
  (schemes: string[]): Rule<string | undefined> =>
  (value) => {
    if (value !== undefined && !schemes.some((s) => value.startsWith(`${s}://`)))
      throw new Refused(`must start with ${schemes.join(':// or ')}://`);
    return value;
  };

/** An integer in [min, max], as `Number` reads the text (so `1e3` and ` 10 ` pass). */
function integer(min: number, max: number): Rule<number | undefined> {
  return (value) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Refused(`must be an integer from ${min} to ${max}, got "${value}"`);
    return n;
  };
}

const integerOr =
  (min: number, max: number, fallback: number): Rule<number> =>
  (value) =>
    integer(min, max)(value) ?? fallback;

const logLevel: Rule<Config['LOG_LEVEL']> = (value) => {
  if (value === undefined) return 'info';
  const level = LOG_LEVELS.find((l) => l === value);
  if (level === undefined) throw new Refused(`must be one of ${LOG_LEVELS.join(', ')}, got "${value}"`);
  return level;
};

const proxies: Rule<string[]> = (value) => {
  const entries = (value ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  for (const entry of entries)
    if (!isAddressOrRange(entry)) throw new Refused(`"${entry}" is not an IP address or CIDR range`);
  return entries;
};

const HOUR_MS = 3_600_000;

/** The rule of every variable, in the order errors are listed. */
const RULES: { [K in keyof Required<Config>]: Rule<Config[K]> } = {
  DATABASE_URL: url(['postgres', 'postgresql']),
  DATABASE_POOL_SIZE: integerOr(1, 200, 10),
  REDIS_URL: url(['redis', 'rediss']),
  BILLING_DATA_DIR: text('./.billing'),
  LOG_LEVEL: logLevel,
  BILLING_SCHEDULE: text('0 * * * *'),
  BILLING_QUEUE_PREFIX: text('billing'),
  BILLING_STREAM: text('billing:login-events'),
  BILLING_STREAM_GROUP: text('billing-ingest'),
  BILLING_WORKER_CONCURRENCY: integerOr(1, 1024, 256),
  BILLING_PLAN_MAX_JOBS: integerOr(1, 100_000, 5000),
  BILLING_PLAN_CHUNK_DAYS: integerOr(1, 1000, 200),
  BILLING_ADMIN_USER: text('admin'),
  BILLING_ADMIN_PASSWORD: optionalText(12, 'must be at least 12 characters'),
  PORT: integerOr(1, 65535, 8080),
  HOST: text('127.0.0.1'),
  BILLING_METRICS_PORT: integer(1, 65535),
  BILLING_METRICS_HOST: text('127.0.0.1'),
  BILLING_METRICS_REFRESH_MS: integerOr(100, HOUR_MS, 15_000),
  BILLING_HTTP_REQUEST_TIMEOUT_MS: integerOr(100, HOUR_MS, 30_000),
  BILLING_HTTP_HEADERS_TIMEOUT_MS: integerOr(100, HOUR_MS, 10_000),
  BILLING_HTTP_KEEPALIVE_TIMEOUT_MS: integerOr(100, HOUR_MS, 5_000),
  BILLING_HTTP_IDLE_TIMEOUT_MS: integerOr(100, HOUR_MS, 60_000),
  BILLING_HTTP_TRUSTED_PROXIES: proxies,
};

/** An IPv4/IPv6 address, or one with a `/prefix` in range for its family. */
function isAddressOrRange(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** The names of every variable the system reads (deployment files are checked against it). */
export const ENV_KEYS: readonly string[] = Object.keys(RULES);

/** A bad environment variable: bad usage, exit 2. */
export class ConfigError extends InputError {
  constructor(message: string) {
    super(message, 'CONFIG_INVALID');
  }
}

/**
 * Parses the environment; throws one error that lists every bad variable. An empty value is the
 * same as an unset one (the default applies); variables the system does not read are ignored.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, rule] of Object.entries(RULES) as [string, Rule<unknown>][]) {
    const raw = env[key];
    try {
      const value = rule(raw === '' ? undefined : raw);
      if (value !== undefined) config[key] = value;
    } catch (error) {
      if (!(error instanceof Refused)) throw error;
      problems.push(`  ${key}: ${error.message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid environment:\n${problems.join('\n')}`);
  return config as unknown as Config;
}
