import { describe, expect, it } from 'vitest';
import { ENV_KEYS, loadConfig } from '../../src/config.ts';

/** The configuration is read by hand-written rules (no zod at start-up): their edges. */
describe('loadConfig', () => {
  it('gives the defaults for an empty environment, and an empty value counts as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '' });
    expect(config).toMatchObject({
      DATABASE_POOL_SIZE: 10,
      BILLING_DATA_DIR: './.billing',
      LOG_LEVEL: 'info',
      PORT: 8080,
      HOST: '127.0.0.1',
      BILLING_HTTP_TRUSTED_PROXIES: [],
    });
    expect('DATABASE_URL' in config).toBe(false);
    expect('BILLING_METRICS_PORT' in config).toBe(false);
    expect(Object.keys(config).every((k) => ENV_KEYS.includes(k))).toBe(true);
  });

  it('reads integers as numbers and keeps set text; ignores variables it does not read', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgresql://u@h/db',
      DATABASE_POOL_SIZE: '200',
      BILLING_METRICS_PORT: '9100',
      LOG_LEVEL: 'silent',
      BILLING_ADMIN_PASSWORD: 'twelve chars',
      HOME: '/root',
    });
    expect(config.DATABASE_URL).toBe('postgresql://u@h/db');
    expect(config.DATABASE_POOL_SIZE).toBe(200);
    expect(config.BILLING_METRICS_PORT).toBe(9100);
    expect(config.LOG_LEVEL).toBe('silent');
    expect(config.BILLING_ADMIN_PASSWORD).toBe('twelve chars');
    expect('HOME' in config).toBe(false);
  });

  it.each([
    ['DATABASE_POOL_SIZE', '0'],
    ['DATABASE_POOL_SIZE', '201'],
    ['DATABASE_POOL_SIZE', '2.5'],
    ['PORT', 'eighty'],
    ['BILLING_METRICS_PORT', '65536'],
    ['BILLING_METRICS_REFRESH_MS', '99'],
    ['REDIS_URL', 'http://x'],
    ['LOG_LEVEL', 'INFO'],
    ['BILLING_ADMIN_PASSWORD', 'eleven char'],
  ])('refuses %s=%s, naming it (exit 2)', (key, value) => {
    let error: unknown;
    try {
      loadConfig({ [key]: value });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(new RegExp(`^invalid environment:\\n  ${key}: `));
    expect((error as { exitCode?: number }).exitCode).toBe(2);
  });
});
