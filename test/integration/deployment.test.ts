import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_KEYS, loadConfig } from '../../src/config.ts';
import { runCli } from '../support/cli.ts';

/*
 * There is no Docker engine here, so the compose file is checked for what can be checked
 * without one: it parses, and every service's command, health check and environment agrees
 * with the CLI and the configuration schema.
 */
interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  restart?: string;
  ports?: string[];
}

const compose = parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), {
  merge: true,
}) as {
  services: Record<string, Service>;
};
const services = compose.services;
const billingServices = Object.entries(services).filter(([, s]) => s.build === '.');

describe('docker-compose.yml', () => {
  it('runs PostgreSQL, Redis, a one-shot migrate, serve and two workers', () => {
    expect(Object.keys(services).sort()).toEqual(['migrate', 'postgres', 'redis', 'serve', 'worker']);
    expect(services.migrate?.command).toEqual(['migrate']);
    expect(services.migrate?.restart).toBe('no');
    expect(services.worker?.deploy?.replicas).toBe(2);
    for (const name of ['serve', 'worker']) {
      expect(services[name]?.depends_on?.migrate?.condition).toBe('service_completed_successfully');
      expect(services[name]?.restart).toBe('unless-stopped');
    }
  });

  it('runs Redis with AOF on and noeviction', () => {
    const cmd = services.redis?.command?.join(' ') ?? '';
    expect(cmd).toMatch(/--appendonly yes/);
    expect(cmd).toMatch(/--maxmemory-policy noeviction/);
  });

  it('has health checks for the database, Redis and the HTTP API, on the port serve listens on', () => {
    expect(services.postgres?.healthcheck?.test.join(' ')).toMatch(/pg_isready/);
    expect(services.redis?.healthcheck?.test.join(' ')).toMatch(/redis-cli ping/);
    const serve = services.serve as Service;
    const port = serve.command?.[serve.command.indexOf('--port') + 1];
    expect(serve.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${port}/healthz`);
    expect(serve.environment?.PORT).toBe(port);
    expect(serve.ports?.[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1:\\d+:${port}$`));
  });

  it('sets only variables the configuration schema knows, and values it accepts', () => {
    for (const [name, s] of billingServices) {
      const env = s.environment ?? {};
      for (const key of Object.keys(env)) expect(ENV_KEYS, `${name}: ${key}`).toContain(key);
      const resolved = Object.fromEntries(
        Object.entries(env).map(([k, v]) => [
          k,
          String(v).startsWith('${') ? 'a-long-enough-password' : String(v),
        ]),
      );
      expect(() => loadConfig(resolved), name).not.toThrow();
      expect(env.DATABASE_URL, name).toMatch(/@postgres:5432\//);
      expect(env.REDIS_URL, name).toBe('redis://redis:6379');
    }
  });

  it.each(billingServices.map(([name, s]) => [name, s.command ?? []] as const))(
    'the %s command is a billing subcommand that accepts its options',
    async (_name, command) => {
      const sub = command.filter((c) => !c.startsWith('--') && !/^\d+$/.test(c));
      const r = await runCli([...sub, '--help']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Usage: billing ${sub.join(' ')} [options]`);
      for (const option of command.filter((c) => c.startsWith('--'))) expect(r.stdout).toContain(option);
    },
  );
});

describe('configuration', () => {
  it('reports every bad variable at once', () => {
    const bad = {
      DATABASE_URL: 'mysql://x',
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      BILLING_ADMIN_PASSWORD: 'short',
    };
    let message = '';
    try {
      loadConfig(bad);
    } catch (error) {
      message = (error as Error).message;
    }
    for (const key of Object.keys(bad)) expect(message).toContain(key);
  });
});
