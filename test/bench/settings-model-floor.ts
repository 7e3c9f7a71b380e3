/**
 * The settings import's data-model floor: what PostgreSQL does to hold what the import wrote when
 * nothing is left to compute. The finished rows an import left in the versions' table and in the
 * license intervals are read out (psql `\copy … TO`), then copied back by psql, one table after
 * the other in one session, into bare tables of the same shape (`LIKE … INCLUDING ALL`: the same
 * columns, keys and indexes, no trigger). The issue's floor is one keyed table with one jsonb
 * column; an import must also write the version's license, its reasons and names, the second
 * index, and an interval per user.
 */
import path from 'node:path';
import pg from 'pg';
import { execute, psql } from './psql.ts';
import { settled } from './stats.ts';

/** The tables an import of new users writes (besides a few day-mark rows), with their bare twins. */
const TABLES = [
  { table: 'settings_versions_all', bare: 'model_floor_versions' },
  { table: 'license_intervals', bare: 'model_floor_intervals' },
] as const;

export interface SettingsModelFloor {
  /** Rows copied per table, in `TABLES` order. */
  rows: number[];
  seconds: number;
  /** The server's CPU seconds for the copies. */
  cpu: number;
}

/**
 * The floor of the rows now in the versions' table and the intervals (`url`'s database, written
 * by the import just measured), copied through files in `dir`. `serverCpuSeconds` reads the
 * server's CPU so far (nothing else uses it meanwhile). Leaves the database as it found it.
 */
export async function settingsModelFloor(
  url: string,
  dir: string,
  serverCpuSeconds: () => number,
): Promise<SettingsModelFloor> {
  const files = TABLES.map(({ table }) => path.join(dir, `${table}.copy`));
  await psql(
    url,
    TABLES.map(({ table }, i) => `\\copy ${table} TO '${files[i]}'`),
  );
  await execute(url, [
    ...TABLES.map(({ table, bare }) => `CREATE TABLE ${bare} (LIKE ${table} INCLUDING ALL)`),
    'CHECKPOINT',
  ]);
  try {
    const cpu0 = serverCpuSeconds();
    const t0 = performance.now();
    await psql(
      url,
      TABLES.map(({ bare }, i) => `\\copy ${bare} FROM '${files[i]}'`),
    );
    const seconds = (performance.now() - t0) / 1000;
    await settled();
    const cpu = serverCpuSeconds() - cpu0;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const rows: number[] = [];
    for (const { bare } of TABLES) {
      const r = await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${bare}`);
      rows.push(Number(r.rows[0]?.n));
    }
    await c.end();
    return { rows, seconds, cpu };
  } finally {
    await execute(url, [...TABLES.map(({ bare }) => `DROP TABLE ${bare}`), 'CHECKPOINT']);
  }
}
