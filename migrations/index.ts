import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.ts';
import * as m0005 from './0005_ingest_counts.ts';
import * as m0006 from './0006_console_audit.ts';

/**
 * Every migration, by name (applied in name order). Listed statically rather than read from the
 * folder so that the same code runs under tsx, vitest and the built dist/ without a loader.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0005_ingest_counts': m0005,
  '0006_console_audit': m0006,
};
