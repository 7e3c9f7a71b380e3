import { type Kysely, sql } from 'kysely';

/*
 * The whole schema of the spec. Frozen in time: never import application code here.
 * Key text columns use COLLATE "C": byte order is what the CSV ordering rule asks for, and it
 * makes B-tree maintenance on random-looking keys cheaper than a locale collation.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE tenants (
      id           text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
      name         text NOT NULL,
      timezone     text NOT NULL,
      currency     char(3) NOT NULL,
      cutoff_hour  smallint NOT NULL DEFAULT 2 CHECK (cutoff_hour BETWEEN 0 AND 23),
      created_at   timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE api_keys (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tenant_id    text COLLATE "C" NOT NULL REFERENCES tenants (id),
      key_hash     text NOT NULL UNIQUE,
      key_prefix   text NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now(),
      revoked_at   timestamptz
    );

    CREATE TABLE settings_versions (
      tenant_id    text COLLATE "C" NOT NULL REFERENCES tenants (id),
      user_id      text COLLATE "C" NOT NULL,
      effective_at timestamptz NOT NULL,
      active       boolean NOT NULL,
      email        text,
      last_name    text,
      settings     jsonb NOT NULL,
      license      text NOT NULL CHECK (license IN ('dashboard','standard','professional','enterprise','developer')),
      billing      text NOT NULL CHECK (billing IN ('monthly','daily')),
      record_calls boolean NOT NULL,
      reasons      jsonb NOT NULL,
      imported_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, user_id, effective_at)
    );
    CREATE INDEX settings_versions_tenant_effective ON settings_versions (tenant_id, effective_at);

    CREATE TABLE price_books (
      id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tenant_id             text COLLATE "C" REFERENCES tenants (id),
      currency              char(3) NOT NULL,
      valid_from            date NOT NULL,
      monthly_dashboard     bigint NOT NULL CHECK (monthly_dashboard >= 0),
      monthly_standard      bigint NOT NULL CHECK (monthly_standard >= 0),
      monthly_professional  bigint NOT NULL CHECK (monthly_professional >= 0),
      monthly_enterprise    bigint NOT NULL CHECK (monthly_enterprise >= 0),
      monthly_developer     bigint NOT NULL CHECK (monthly_developer >= 0),
      monthly_recording     bigint NOT NULL CHECK (monthly_recording >= 0),
      daily_professional    bigint NOT NULL CHECK (daily_professional >= 0),
      daily_enterprise      bigint NOT NULL CHECK (daily_enterprise >= 0),
      daily_recording       bigint NOT NULL CHECK (daily_recording >= 0),
      loaded_at             timestamptz NOT NULL DEFAULT now(),
      UNIQUE NULLS NOT DISTINCT (tenant_id, valid_from)
    );

    CREATE TABLE login_events (
      tenant_id    text COLLATE "C" NOT NULL,
      event_id     text COLLATE "C" NOT NULL,
      user_id      text COLLATE "C" NOT NULL,
      occurred_at  timestamptz NOT NULL,
      day          date NOT NULL,
      source       text NOT NULL,
      received_at  timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, event_id)
    );

    CREATE TABLE daily_activity (
      tenant_id      text COLLATE "C" NOT NULL,
      day            date NOT NULL,
      user_id        text COLLATE "C" NOT NULL,
      first_login_at timestamptz NOT NULL,
      last_login_at  timestamptz NOT NULL,
      login_count    integer NOT NULL CHECK (login_count > 0),
      updated_at     timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, day, user_id)
    );

    CREATE TABLE ingest_rejects (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      received_at  timestamptz NOT NULL DEFAULT now(),
      source       text NOT NULL,
      tenant_id    text COLLATE "C",
      event_id     text COLLATE "C",
      location     text,
      raw          text NOT NULL,
      reason       text NOT NULL,
      resolved_at  timestamptz
    );
    CREATE INDEX ingest_rejects_tenant_received ON ingest_rejects (tenant_id, received_at);
    CREATE INDEX ingest_rejects_unresolved_event ON ingest_rejects (tenant_id, event_id) WHERE resolved_at IS NULL;

    CREATE TABLE day_revisions (
      tenant_id   text COLLATE "C" NOT NULL,
      day         date NOT NULL,
      revision    bigint NOT NULL DEFAULT 1,
      changed_at  timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, day)
    );

    CREATE TABLE runs (
      id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tenant_id       text COLLATE "C" NOT NULL REFERENCES tenants (id),
      day             date NOT NULL,
      kind            text NOT NULL CHECK (kind IN ('charge','adjustment')),
      trigger         text NOT NULL CHECK (trigger IN ('schedule','catch-up','late-data','replay','manual')),
      is_current      boolean NOT NULL DEFAULT false,
      input_revision  bigint NOT NULL,
      started_at      timestamptz NOT NULL,
      finished_at     timestamptz NOT NULL,
      line_count      integer NOT NULL,
      total           bigint NOT NULL,
      currency        char(3) NOT NULL,
      superseded_at   timestamptz,
      job_id          text,
      CHECK (NOT (is_current AND kind = 'adjustment'))
    );
    CREATE UNIQUE INDEX runs_one_current_per_day ON runs (tenant_id, day) WHERE is_current;
    CREATE INDEX runs_tenant_day_history ON runs (tenant_id, day, id);

    CREATE TABLE charge_lines (
      run_id         bigint NOT NULL REFERENCES runs (id),
      user_id        text COLLATE "C" NOT NULL,
      item           text COLLATE "C" NOT NULL,
      billing        text NOT NULL,
      amount         bigint NOT NULL,
      unit_price     bigint NOT NULL,
      price_book_id  bigint NOT NULL,
      PRIMARY KEY (run_id, user_id, item)
    );

    CREATE TABLE adjustment_lines (
      run_id         bigint NOT NULL REFERENCES runs (id),
      tenant_id      text COLLATE "C" NOT NULL,
      period         char(7) NOT NULL,
      day            date NOT NULL,
      user_id        text COLLATE "C" NOT NULL,
      item           text COLLATE "C" NOT NULL,
      billing        text NOT NULL,
      amount         bigint NOT NULL CHECK (amount <> 0),
      currency       char(3) NOT NULL,
      PRIMARY KEY (run_id, user_id, item, billing)
    );
    CREATE INDEX adjustment_lines_period ON adjustment_lines (tenant_id, period);
    CREATE INDEX adjustment_lines_day ON adjustment_lines (tenant_id, day);

    CREATE TABLE periods (
      tenant_id   text COLLATE "C" NOT NULL REFERENCES tenants (id),
      month       char(7) NOT NULL,
      closed_at   timestamptz NOT NULL,
      PRIMARY KEY (tenant_id, month)
    );
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP TABLE periods, adjustment_lines, charge_lines, runs, day_revisions, ingest_rejects,
      daily_activity, login_events, price_books, settings_versions, api_keys, tenants;
  `.execute(db);
}
