import { isIP } from 'node:net';
import { z } from 'zod';
import { InputError } from './errors.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const urlWithScheme = (schemes: string[]) =>
  z
    .string()
    .refine(
      (v) => schemes.some((s) => v.startsWith(`${s}://`)),
      `must start with ${schemes.join(':// or ')}://`,
    );

/** Every environment variable the system reads, validated once at start-up. */
const envSchema = z.object({
  DATABASE_URL: urlWithScheme(['postgres', 'postgresql']).optional(),
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  REDIS_URL: urlWithScheme(['redis', 'rediss']).optional(),
  BILLING_DATA_DIR: z.string().min(1).default('./.billing'),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  BILLING_SCHEDULE: z.string().min(1).default('0 * * * *'),
  BILLING_QUEUE_PREFIX: z.string().min(1).default('billing'),
  BILLING_STREAM: z.string().min(1).default('billing:login-events'),
  BILLING_STREAM_GROUP: z.string().min(1).default('billing-ingest'),
  BILLING_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(256),
  /** The most tenant-days one `plan-night` queues; the rest follows at the next plans. */
  BILLING_PLAN_MAX_JOBS: z.coerce.number().int().min(1).max(100_000).default(5000),
  /** The most tenant-days one `bill-days` job carries (the plan's chunks). */
  BILLING_PLAN_CHUNK_DAYS: z.coerce.number().int().min(1).max(1000).default(200),
  BILLING_ADMIN_USER: z.string().min(1).default('admin'),
  BILLING_ADMIN_PASSWORD: z.string().min(12, 'must be at least 12 characters').optional(),
  PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  /** `billing serve` and `billing worker`: serve GET /metrics and GET /healthz on this port (`--metrics-port` wins); unset = none. */
  BILLING_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /** Bind address of that status port: loopback unless Prometheus scrapes from elsewhere. */
  BILLING_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** How often the gauges read from PostgreSQL and Redis (lag, queue counts) are refreshed, in ms. */
  BILLING_METRICS_REFRESH_MS: z.coerce.number().int().min(100).max(3_600_000).default(15_000),
  /** `billing serve`: limits on a client, in ms (see docs/operations.md, HTTP limits). */
  BILLING_HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  BILLING_HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(10_000),
  BILLING_HTTP_KEEPALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(5_000),
  BILLING_HTTP_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).max(3_600_000).default(60_000),
  /**
   * `billing serve` behind a reverse proxy: the proxies' addresses or CIDR ranges, comma-separated.
   * A request from one of them is taken to come from the client its `X-Forwarded-For` names (the
   * failed-authentication throttle counts per client, not per proxy). Unset: the TCP peer.
   */
  BILLING_HTTP_TRUSTED_PROXIES: z
    .string()
    .optional()
    .transform((text, ctx) => {
      const entries = (text ?? '')
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e !== '');
      for (const entry of entries) {
        if (!isAddressOrRange(entry)) {
          ctx.addIssue({ code: 'custom', message: `"${entry}" is not an IP address or CIDR range` });
          return z.NEVER;
        }
      }
      return entries;
    }),
});

/** An IPv4/IPv6 address, or one with a `/prefix` in range for its family. */
function isAddressOrRange(entry: string): boolean {
  const [address = '', prefix, extra] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

export type Config = z.infer<typeof envSchema>;

/** The names of every variable the system reads (deployment files are checked against it). */
export const ENV_KEYS: readonly string[] = Object.keys(envSchema.shape);

/** A bad environment variable: bad usage, exit 2. */
export class ConfigError extends InputError {
  constructor(message: string) {
    super(message, 'CONFIG_INVALID');
  }
}

/** Parses the environment; throws one error that lists every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(cleaned);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid environment:\n${lines.join('\n')}`);
  }
  return result.data;
}
