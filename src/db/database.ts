import type { ColumnType, Kysely, Selectable, Transaction } from 'kysely';
import type { RunTrigger } from '../domain/run.ts';

/** int8 comes back from pg as a string; we write numbers (safe integers) or strings. */
type Int8 = ColumnType<string, number | string | bigint, number | string | bigint>;
type Int8Generated = ColumnType<string, never, never>;
/** `date` columns are read as 'YYYY-MM-DD' strings (the pg type parser is set so in connection.ts). */
type DateCol = ColumnType<string, string, string>;
type Timestamptz = ColumnType<Date, Date | string, Date | string>;
type TimestamptzDefault = ColumnType<Date, Date | string | undefined, Date | string>;

export interface TenantsTable {
  id: string;
  name: string;
  timezone: string;
  currency: string;
  cutoff_hour: ColumnType<number, number | undefined, number>;
  created_at: TimestamptzDefault;
}

export interface ApiKeysTable {
  id: Int8Generated;
  tenant_id: string;
  key_hash: string;
  key_prefix: string;
  created_at: TimestamptzDefault;
  revoked_at: Timestamptz | null;
  /** 0003: null = never expires. */
  expires_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** 0003: approximate (written at most about once a minute per key); null = never used. */
  last_used_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
}

export interface SettingsVersionsTable {
  tenant_id: string;
  user_id: string;
  effective_at: Timestamptz;
  active: boolean;
  email: string | null;
  last_name: string | null;
  settings: ColumnType<unknown, string, string>;
  license: string;
  billing: string;
  record_calls: boolean;
  reasons: ColumnType<string[], string, string>;
  imported_at: TimestamptzDefault;
}

/**
 * A stretch of one user's time with one active state (migration 0008): kept equal to the versions
 * by a database trigger, never written by application code. `valid_to` is 'infinity' while open.
 */
export interface LicenseIntervalsTable {
  tenant_id: string;
  user_id: string;
  valid_from: Timestamptz;
  valid_to: Timestamptz;
  license: string;
  billing: string;
  record_calls: boolean;
}

export interface PriceBooksTable {
  id: Int8Generated;
  tenant_id: string | null;
  currency: string;
  valid_from: DateCol;
  monthly_dashboard: Int8;
  monthly_standard: Int8;
  monthly_professional: Int8;
  monthly_enterprise: Int8;
  monthly_developer: Int8;
  monthly_recording: Int8;
  daily_professional: Int8;
  daily_enterprise: Int8;
  daily_recording: Int8;
  loaded_at: TimestamptzDefault;
}

export interface LoginEventsTable {
  tenant_id: string;
  event_id: string;
  user_id: string;
  occurred_at: Timestamptz;
  day: DateCol;
  source: string;
  received_at: Timestamptz;
}

export interface DailyActivityTable {
  tenant_id: string;
  day: DateCol;
  user_id: string;
  first_login_at: Timestamptz;
  last_login_at: Timestamptz;
  login_count: number;
  updated_at: TimestamptzDefault;
}

export interface IngestRejectsTable {
  id: Int8Generated;
  received_at: TimestamptzDefault;
  source: string;
  tenant_id: string | null;
  event_id: string | null;
  location: string | null;
  raw: string;
  raw_encoding: ColumnType<string, string | undefined, string>;
  raw_bytes: Int8;
  raw_sha256: string;
  raw_truncated: ColumnType<boolean, boolean | undefined, boolean>;
  dedup_key: string;
  reason: string;
  resolved_at: Timestamptz | null;
  /** The tenant-local day the reject is attributed to (migration 0011); null when none. */
  day: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A range of tenant-days whose input changed (inclusive): each day in it has at least `revision`. */
export interface DayMarksTable {
  tenant_id: string;
  from_day: DateCol;
  to_day: DateCol;
  revision: Int8;
  marked_at: TimestamptzDefault;
}

/** One counter per tenant: the revision the next marking transaction takes. */
export interface DayMarkClocksTable {
  tenant_id: string;
  revision: Int8;
}

export interface RunsTable {
  id: Int8Generated;
  tenant_id: string;
  day: DateCol;
  kind: 'charge' | 'adjustment';
  trigger: RunTrigger;
  is_current: ColumnType<boolean, boolean | undefined, boolean>;
  input_revision: Int8;
  started_at: Timestamptz;
  finished_at: Timestamptz;
  line_count: number;
  total: Int8;
  currency: string;
  superseded_at: Timestamptz | null;
  job_id: string | null;
}

export interface ChargeLinesTable {
  run_id: Int8;
  user_id: string;
  item: string;
  billing: string;
  amount: Int8;
  unit_price: Int8;
  price_book_id: Int8;
}

export interface AdjustmentLinesTable {
  run_id: Int8;
  tenant_id: string;
  period: string;
  day: DateCol;
  user_id: string;
  item: string;
  billing: string;
  amount: Int8;
  currency: string;
}

export interface PeriodsTable {
  tenant_id: string;
  month: string;
  closed_at: Timestamptz;
}

/** One row per ingested batch and tenant-day (migration 0005): what reconcile sums. */
export interface IngestCountsTable {
  tenant_id: string;
  day: DateCol;
  source: string;
  batch_at: Timestamptz;
  accepted: number;
  duplicates: number;
}

/** One row per failed attempt to bill a tenant-day (migration 0005). */
export interface RunFailuresTable {
  tenant_id: string;
  day: DateCol;
  failed_at: Timestamptz;
  trigger: string;
  error: string;
}

/** One row per console action, refused and failed ones too (migration 0006). */
export interface ConsoleAuditTable {
  id: Int8Generated;
  at: TimestamptzDefault;
  actor: string;
  action: 'close-month' | 'queue-replay';
  tenant_id: string;
  subject: string;
  outcome: 'done' | 'refused' | 'failed';
  detail: string;
}

/** A committed run's lines summed by (item, billing): never changes (migration 0006). */
export interface ConsoleRunTotalsTable {
  run_id: Int8;
  item: string;
  billing: string;
  lines: number;
  amount: Int8;
}

/**
 * The invoice CSV's charge rows of a tenant-month that its base run does not stand for (migrations
 * 0010 and 0015: the exceptions), kept by every charge run.
 */
export interface InvoiceMonthRowsTable {
  tenant_id: string;
  month: string;
  user_id: string;
  item: string;
  billing: string;
  unit_price: Int8;
  currency: string;
  /** Bit d-1 set: day d of the month is in the row. */
  days: number;
  quantity: number;
  amount: Int8;
  first_day: DateCol;
  last_day: DateCol;
  /** The month's base run has a line of this key (migration 0016). */
  in_base: ColumnType<boolean, boolean | undefined, boolean>;
}

/** Per tenant-day, the run whose lines `invoice_month_rows` holds (migration 0010). */
export interface InvoiceMonthDaysTable {
  tenant_id: string;
  day: DateCol;
  run_id: Int8;
}

/** Per tenant-month, the run whose lines stand for the month's rows (migration 0015). */
export interface InvoiceMonthBasesTable {
  tenant_id: string;
  month: string;
  run_id: Int8;
}

export interface Database {
  tenants: TenantsTable;
  api_keys: ApiKeysTable;
  settings_versions: SettingsVersionsTable;
  license_intervals: LicenseIntervalsTable;
  price_books: PriceBooksTable;
  login_events: LoginEventsTable;
  daily_activity: DailyActivityTable;
  ingest_rejects: IngestRejectsTable;
  day_marks: DayMarksTable;
  day_mark_clocks: DayMarkClocksTable;
  runs: RunsTable;
  charge_lines: ChargeLinesTable;
  adjustment_lines: AdjustmentLinesTable;
  periods: PeriodsTable;
  ingest_counts: IngestCountsTable;
  run_failures: RunFailuresTable;
  console_audit: ConsoleAuditTable;
  console_run_totals: ConsoleRunTotalsTable;
  invoice_month_rows: InvoiceMonthRowsTable;
  invoice_month_days: InvoiceMonthDaysTable;
  invoice_month_bases: InvoiceMonthBasesTable;
}

/** A database handle or an open transaction: repositories accept either as their first argument. */
export type Db = Kysely<Database> | Transaction<Database>;

export type TenantRow = Selectable<TenantsTable>;
