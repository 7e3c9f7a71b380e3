/**
 * The ingest bench's floors: what PostgreSQL does when nothing is left to compute.
 *
 * - `copyFloor`: the issue's floor, psql `\copy` of the distinct finished events into a bare table
 *   with login_events' key.
 * - `modelFloor`: the floor of what an import must write, the same events AND their daily-activity
 *   rows (one per tenant, day and user, finished: first and last login, count) copied into two
 *   bare tables with the two keys; once one after the other in one session, once as two sessions
 *   at the same time (the machine's two cores). The import writes both, so its rate against this
 *   floor says how close it runs to the bare limit of its data model, and this floor against the
 *   issue's says what the model itself costs.
 */
import { execute, psql } from './psql.ts';
import { settled } from './stats.ts';

const EVENTS_TABLE = `(tenant_id text COLLATE "C" NOT NULL, event_id text COLLATE "C" NOT NULL,
    user_id text COLLATE "C" NOT NULL, occurred_at timestamptz NOT NULL, day date NOT NULL, source text NOT NULL,
    received_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, event_id))`;
const ACTIVITY_TABLE = `(tenant_id text COLLATE "C" NOT NULL, day date NOT NULL, user_id text COLLATE "C" NOT NULL,
    first_login_at timestamptz NOT NULL, last_login_at timestamptz NOT NULL, login_count integer NOT NULL,
    updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, day, user_id))`;

const createTables = (url: string, tables: Record<string, string>) =>
  execute(
    url,
    Object.entries(tables).map(([name, shape]) => `CREATE TABLE ${name} ${shape}`),
  );

/** psql with one `\copy` per (table, file), in one session. */
const psqlCopy = (url: string, copies: [table: string, csv: string][]) =>
  psql(
    url,
    copies.map(([table, csv]) => `\\copy ${table} FROM '${csv}' WITH (FORMAT csv)`),
  );

/** Seconds `work` takes. */
async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return (performance.now() - t0) / 1000;
}

/** The floor, into a fresh database `url`: rows per second and the database's CPU per row (µs). */
export async function copyFloor(
  url: string,
  csv: string,
  rows: number,
  pgCpuSeconds: () => number,
): Promise<{ rate: number; pgCpuUs: number }> {
  await createTables(url, { bare: EVENTS_TABLE });
  const cpu0 = pgCpuSeconds();
  const seconds = await timed(() => psqlCopy(url, [['bare', csv]]));
  await settled();
  return { rate: rows / seconds, pgCpuUs: ((pgCpuSeconds() - cpu0) * 1e6) / rows };
}

export interface ModelFloor {
  /** Events per second, the two COPYs one after the other in one session. */
  sequential: number;
  /** The database's CPU per event (µs) in the sequential way: what writing both tables costs it. */
  sequentialPgCpuUs: number;
  /** Events per second, the two COPYs in two sessions at the same time. */
  concurrent: number;
}

/**
 * The data model's floor, into two fresh databases (`urls`, one per way): events per second
 * (`events` distinct events, their activity rows in `activityCsv`). `pgCpuSeconds` reads the
 * server's CPU so far (nothing else uses it meanwhile).
 */
export async function modelFloor(
  urls: readonly [string, string],
  eventsCsv: string,
  activityCsv: string,
  events: number,
  pgCpuSeconds: () => number,
): Promise<ModelFloor> {
  const tables = { bare_events: EVENTS_TABLE, bare_activity: ACTIVITY_TABLE };
  const [one, two] = urls;
  await createTables(one, tables);
  await createTables(two, tables);
  const cpu0 = pgCpuSeconds();
  const sequential = await timed(() =>
    psqlCopy(one, [
      ['bare_events', eventsCsv],
      ['bare_activity', activityCsv],
    ]),
  );
  await settled();
  const sequentialPgCpuUs = ((pgCpuSeconds() - cpu0) * 1e6) / events;
  const concurrent = await timed(() =>
    Promise.all([
      psqlCopy(two, [['bare_events', eventsCsv]]),
      psqlCopy(two, [['bare_activity', activityCsv]]),
    ]),
  );
  return { sequential: events / sequential, sequentialPgCpuUs, concurrent: events / concurrent };
}

/** Finished daily-activity rows of events, keyed by tenant, day and user, in first-seen order. */
export class ActivityRows {
  readonly #rows = new Map<string, { first: string; last: string; count: number }>();

  add(tenantId: string, day: string, userId: string, occurredAt: string): void {
    const key = `${tenantId},${day},${userId}`;
    const row = this.#rows.get(key);
    if (row === undefined) this.#rows.set(key, { first: occurredAt, last: occurredAt, count: 1 });
    else {
      // ISO-8601 instants of one format: their text order is their time order.
      if (occurredAt < row.first) row.first = occurredAt;
      if (occurredAt > row.last) row.last = occurredAt;
      row.count += 1;
    }
  }

  get size(): number {
    return this.#rows.size;
  }

  /** CSV lines `tenant,day,user,first,last,count,updatedAt`. */
  *lines(updatedAt: string): Generator<string> {
    for (const [key, r] of this.#rows) yield `${key},${r.first},${r.last},${r.count},${updatedAt}`;
  }
}
