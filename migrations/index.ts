import type { Migration } from 'kysely';
import * as m0001 from './0001_initial.ts';
import * as m0002 from './0002_reject_store.ts';
import * as m0003 from './0003_api_key_lifecycle.ts';
import * as m0004 from './0004_day_mark_ranges.ts';
import * as m0005 from './0005_ingest_counts.ts';
import * as m0006 from './0006_console_audit.ts';
import * as m0007 from './0007_console_aggregates.ts';
import * as m0008 from './0008_license_intervals.ts';
import * as m0009 from './0009_settings_import_speed.ts';
import * as m0010 from './0010_invoice_month_rows.ts';
import * as m0011 from './0011_console_reads.ts';
import * as m0012 from './0012_charge_write_speed.ts';
import * as m0013 from './0013_settings_write_speed.ts';
import * as m0014 from './0014_month_rows_file_order.ts';
import * as m0015 from './0015_month_row_bases.ts';
import * as m0016 from './0016_month_row_base_keys.ts';
import * as m0017 from './0017_settings_versions_leaf.ts';
import * as m0018 from './0018_settings_batch_expectation.ts';
import * as m0019 from './0019_settings_json_text.ts';

/**
 * Every migration, by name (applied in name order). Listed statically rather than read from the
 * folder so that the same code runs under tsx, vitest and the built dist/ without a loader.
 */
export const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_reject_store': m0002,
  '0003_api_key_lifecycle': m0003,
  '0004_day_mark_ranges': m0004,
  '0005_ingest_counts': m0005,
  '0006_console_audit': m0006,
  '0007_console_aggregates': m0007,
  '0008_license_intervals': m0008,
  '0009_settings_import_speed': m0009,
  '0010_invoice_month_rows': m0010,
  '0011_console_reads': m0011,
  '0012_charge_write_speed': m0012,
  '0013_settings_write_speed': m0013,
  '0014_month_rows_file_order': m0014,
  '0015_month_row_bases': m0015,
  '0016_month_row_base_keys': m0016,
  '0017_settings_versions_leaf': m0017,
  '0018_settings_batch_expectation': m0018,
  '0019_settings_json_text': m0019,
};
