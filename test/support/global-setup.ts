import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { openPostgres } from '../../src/db/connection.ts';
import { migrateToLatest } from '../../src/db/migrator.ts';
import { resolvePostgres, resolveRedis, type Service } from './services.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    templateDb: string;
    redisUrl: string;
  }
}

export const TEMPLATE_DB = 'billing_template';

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Creates the migrated template database that every test file clones. */
async function createTemplate(adminUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const conn = await openPostgres(withDatabase(adminUrl, TEMPLATE_DB), 1);
  try {
    await migrateToLatest(conn.db);
  } finally {
    await conn.close();
  }
}

export default async function setup(project: TestProject) {
  const services: Service[] = [];
  try {
    const postgres = await resolvePostgres();
    services.push(postgres);
    const redis = await resolveRedis();
    services.push(redis);
    console.log(`[test services] PostgreSQL: ${postgres.source}; Redis: ${redis.source}`);
    await createTemplate(postgres.url);
    project.provide('pgAdminUrl', postgres.url);
    project.provide('templateDb', TEMPLATE_DB);
    project.provide('redisUrl', redis.url);
  } catch (error) {
    for (const s of services.reverse()) await s.stop();
    throw new Error(`integration test services unavailable: ${(error as Error).message}`);
  }
  return async () => {
    for (const s of services.reverse()) await s.stop();
  };
}
