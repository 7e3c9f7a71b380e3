import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { updateAnomalyGauge } from '../../jobs/gauges.ts';
import { billDay } from '../../src/billing/bill-day.service.ts';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { ANOMALY_CODES } from '../../src/domain/anomalies.ts';
import { dayRange } from '../../src/domain/calendar.ts';
import { InputError } from '../../src/errors.ts';
import { EventIngestor, type IngestItem } from '../../src/ingest/event-ingest.service.ts';
import { parseLoginEvent } from '../../src/ingest/login-event.schema.ts';
import {
  type ReconcileRow,
  reconcileMonth,
  reconcileMonths,
  reconcileTenantMonths,
} from '../../src/insight/reconcile.service.ts';
import { billingAnomalies, registry } from '../../src/metrics.ts';
import { BACKENDS } from '../support/backends.ts';
import { addActivity, addVersions, seedTenant } from './bill-day-fixtures.ts';
import { NOW, seedBilledTenant, tableFingerprint } from './insight-fixtures.ts';

const item = (value: Record<string, unknown>, hint?: IngestItem['hint']): IngestItem => ({
  raw: JSON.stringify(value),
  location: 'test',
  parsed: parseLoginEvent(value),
  ...(hint ? { hint } : {}),
});

async function bill(db: Db, tenantId: string, from: string, to: string, now = NOW) {
  for (const day of dayRange(from, to)) await billDay(db, { tenantId, day, trigger: 'manual', now });
}

describe.each(BACKENDS)('billing reconcile on $name', ({ open }) => {
  let conn: DatabaseConnection;
  const rowOf = (rows: ReconcileRow[], tenantId: string, day: string) => {
    const row = rows.find((r) => r.tenantId === tenantId && r.day === day);
    if (!row) throw new Error(`no row ${tenantId} ${day}`);
    return row;
  };

  beforeAll(async () => {
    conn = await open();
    await seedBilledTenant(conn.db, 'acme', { users: 8, seed: 3, billTo: '2026-11-10' });
    // Re-deliveries: the events of two user-days again (file source), and one through the stream.
    const again = (
      await sql<{ event_id: string; user_id: string; occurred_at: Date }>`
        SELECT event_id, user_id, occurred_at FROM login_events WHERE tenant_id = 'acme' AND day = '2026-10-07'
        ORDER BY event_id LIMIT 5`.execute(conn.db)
    ).rows;
    const ingestor = new EventIngestor(conn.db, () => NOW);
    await ingestor.ingest(
      again.map((e) =>
        item({
          eventId: e.event_id,
          tenantId: 'acme',
          userId: e.user_id,
          occurredAt: e.occurred_at.toISOString(),
        }),
      ),
      { source: 'file' },
    );
    await ingestor.ingest(
      [item({ eventId: 'stream-1', tenantId: 'acme', userId: 'u00', occurredAt: '2026-10-07T10:00:00Z' })],
      { source: 'stream' },
    );
    // A reject attributable to acme 2026-10-05 (bad userId), and one that cannot be attributed.
    await ingestor.ingest(
      [
        item(
          { eventId: 'bad-1', tenantId: 'acme', userId: '', occurredAt: '2026-10-05T10:00:00Z' },
          { tenantId: 'acme' },
        ),
      ],
      { source: 'http' },
    );
    await new EventIngestor(conn.db, () => new Date('2026-10-20T08:00:00Z')).ingest(
      [{ raw: 'garbage', location: 'test', parsed: { ok: false, reason: 'not JSON' } }],
      { source: 'file' },
    );
    // Late data on a billed day: stale.
    await addActivity(conn.db, 'acme', '2026-10-20', ['late-user']);

    // steady: 3 monthly users, then 3 enterprise users more on the 9th (a total jump of +74 %); one
    // daily user active on 1..8 only.
    await seedTenant(conn.db, { id: 'steady', timezone: 'UTC' });
    await addVersions(conn.db, 'steady', [
      ...['a', 'b', 'c'].map((u) => ({
        userId: u,
        at: '2026-10-01T00:00:00Z',
        license: 'standard' as const,
      })),
      ...['d', 'e', 'f'].map((u) => ({
        userId: u,
        at: '2026-10-09T06:00:00Z',
        license: 'enterprise' as const,
      })),
      { userId: 'day', at: '2026-10-01T00:00:00Z', license: 'professional', billing: 'daily' },
    ]);
    for (const day of dayRange('2026-10-01', '2026-10-08'))
      await addActivity(conn.db, 'steady', day, ['day']);
    await bill(conn.db, 'steady', '2026-10-01', '2026-10-12');

    // broke: no price book, so its day fails.
    await seedTenant(conn.db, { id: 'broke', book: null });
    await addVersions(conn.db, 'broke', [{ userId: 'x', at: '2026-10-01T00:00:00Z', license: 'standard' }]);
    await billDay(conn.db, { tenantId: 'broke', day: '2026-10-02', trigger: 'manual', now: NOW }).catch(
      () => {},
    );
  }, 240_000);
  afterAll(async () => conn?.close());

  it('counts accepted events per source and re-deliveries from the per-batch counts', async () => {
    const r = await reconcileMonth(conn.db, { month: '2026-10', tenantId: 'acme', now: NOW });
    expect(r.rows.map((x) => x.day)).toEqual(dayRange('2026-10-01', '2026-10-31'));
    const { rows } = await sql<{ day: string; source: string; n: string }>`
      SELECT day, source, count(*)::text AS n FROM login_events WHERE tenant_id = 'acme' GROUP BY day, source`.execute(
      conn.db,
    );
    for (const row of r.rows) {
      const stored = (source: string) =>
        Number(rows.find((x) => x.day === row.day && x.source === source)?.n ?? 0);
      expect(row.accepted).toEqual({ http: stored('http'), file: stored('file'), stream: stored('stream') });
    }
    const d7 = rowOf(r.rows, 'acme', '2026-10-07');
    expect(d7.duplicates).toBe(5);
    expect(d7.accepted.stream).toBe(1);
    expect(rowOf(r.rows, 'acme', '2026-10-08').duplicates).toBe(0);
    // The batch table holds one row per batch and tenant-day, never one per event.
    const counts = await sql<{
      n: string;
    }>`SELECT count(*)::text AS n FROM ingest_counts WHERE tenant_id = 'acme'`.execute(conn.db);
    expect(Number(counts.rows[0]?.n)).toBeLessThanOrEqual(45 + 2);
  });

  it('gives each day its run, status and active users', async () => {
    const r = await reconcileMonth(conn.db, { month: '2026-10', tenantId: 'acme', now: NOW });
    const runs = await sql<{ day: string; id: string; line_count: number; total: string }>`
      SELECT day, id::text AS id, line_count, total::text AS total FROM runs WHERE tenant_id = 'acme' AND is_current`.execute(
      conn.db,
    );
    const active = await sql<{ day: string; n: string }>`
      SELECT day, count(*)::text AS n FROM daily_activity WHERE tenant_id = 'acme' GROUP BY day`.execute(
      conn.db,
    );
    for (const row of r.rows) {
      const run = runs.rows.find((x) => x.day === row.day);
      expect([row.runId, row.lines, row.total]).toEqual([run?.id, run?.line_count, Number(run?.total)]);
      expect(row.activeUsers).toBe(Number(active.rows.find((x) => x.day === row.day)?.n ?? 0));
      // The stream event of the 7th and the late activity of the 20th came after their runs.
      expect(row.status).toBe(['2026-10-07', '2026-10-20'].includes(row.day) ? 'stale' : 'billed');
    }
    expect(rowOf(r.rows, 'acme', '2026-10-20').anomalies.map((a) => a.code)).toContain('overdue');
  });

  it('attributes rejects to their tenant-day and counts the others once per month of receipt', async () => {
    const oct = await reconcileMonth(conn.db, { month: '2026-10', now: NOW });
    const d5 = rowOf(oct.rows, 'acme', '2026-10-05');
    expect(d5.rejectsOpen).toBe(1);
    expect(d5.anomalies).toContainEqual({
      code: 'open-rejects',
      message: '1 rejected event of this day still open',
    });
    expect(oct.rows.filter((x) => x.rejectsOpen > 0)).toHaveLength(1);
    expect(oct.unattributedRejects).toBe(1);
    expect((await reconcileMonth(conn.db, { month: '2026-11', now: NOW })).unattributedRejects).toBe(0);
  });

  it('November up to today: billed, missing (overdue) and pending days', async () => {
    const r = await reconcileMonth(conn.db, { month: '2026-11', tenantId: 'acme', now: NOW });
    expect(r.rows.map((x) => x.day)).toEqual(dayRange('2026-11-01', '2026-11-15'));
    expect(r.rows.map((x) => x.status)).toEqual([
      ...Array(10).fill('billed'),
      ...Array(4).fill('missing'),
      'pending',
    ]);
    expect(rowOf(r.rows, 'acme', '2026-11-11').anomalies.map((a) => a.code)).toEqual(['overdue']);
    expect(rowOf(r.rows, 'acme', '2026-11-15').anomalies.filter((a) => a.code === 'overdue')).toEqual([]);
  });

  it('a failed attempt makes the day failed until a run succeeds', async () => {
    const r = await reconcileMonth(conn.db, { month: '2026-10', tenantId: 'broke', now: NOW });
    expect(rowOf(r.rows, 'broke', '2026-10-02').status).toBe('failed');
    expect(rowOf(r.rows, 'broke', '2026-10-02').anomalies[0]?.message).toContain(
      'failed at its last attempt',
    );
    expect(rowOf(r.rows, 'broke', '2026-10-03').status).toBe('missing');
  });

  it('detects a total jump and an activity drop', async () => {
    const r = await reconcileMonth(conn.db, { month: '2026-10', tenantId: 'steady', now: NOW });
    const d9 = rowOf(r.rows, 'steady', '2026-10-09');
    expect(d9.anomalies.map((a) => a.code)).toEqual(['total-jump', 'activity-drop']);
    expect(rowOf(r.rows, 'steady', '2026-10-08').anomalies).toEqual([]);
    // With a threshold above the jump, only the activity drop remains.
    const loose = await reconcileMonth(conn.db, { month: '2026-10', tenantId: 'steady', now: NOW, jump: 5 });
    expect(rowOf(loose.rows, 'steady', '2026-10-09').anomalies.map((a) => a.code)).toEqual(['activity-drop']);
  });

  it('feeds the billing_anomalies gauge per tenant and code: days of the current month with it', async () => {
    const at = new Date('2026-10-13T12:00:00Z');
    await updateAnomalyGauge(conn.db, at);
    const values = (await billingAnomalies.get()).values;
    const gauge = (tenant: string, code: string) =>
      values.find((v) => v.labels.tenant === tenant && v.labels.code === code)?.value;
    for (const tenant of ['acme', 'steady', 'broke']) {
      const { rows } = await reconcileMonth(conn.db, { month: '2026-10', tenantId: tenant, now: at });
      for (const code of ANOMALY_CODES) {
        expect(gauge(tenant, code)).toBe(rows.filter((r) => r.anomalies.some((a) => a.code === code)).length);
      }
    }
    expect(gauge('steady', 'total-jump')).toBeGreaterThan(0);
    expect(gauge('steady', 'activity-drop')).toBe(1);
    expect(gauge('broke', 'overdue')).toBeGreaterThan(0);
    expect(gauge('acme', 'open-rejects')).toBe(1);
    expect(await registry.metrics()).toMatch(/billing_anomalies\{tenant="steady",code="activity-drop"\} 1/);
  });

  it('reconciles every tenant set-based exactly as one tenant at a time', async () => {
    const months = ['2026-10', '2026-11'];
    const all = await reconcileTenantMonths(conn.db, { now: NOW, monthsOf: () => months });
    expect(all.length).toBeGreaterThanOrEqual(6);
    expect(all.some((m) => m.rows.some((r) => r.rejectsOpen > 0))).toBe(true);
    for (const m of all) {
      const one = await reconcileMonth(conn.db, { month: m.month, tenantId: m.tenant.id, now: NOW });
      expect(m.rows).toEqual(one.rows);
    }
    const [oct, nov] = await reconcileMonths(conn.db, { months, now: NOW });
    expect(oct?.rows).toEqual(all.filter((m) => m.month === '2026-10').flatMap((m) => m.rows));
    expect(nov?.rows).toEqual(all.filter((m) => m.month === '2026-11').flatMap((m) => m.rows));
  });

  it('only reads: every table and every day revision are unchanged', async () => {
    const before = await tableFingerprint(conn.db);
    await reconcileMonth(conn.db, { month: '2026-10', now: NOW });
    await reconcileMonth(conn.db, { month: '2026-11', tenantId: 'acme', now: NOW });
    await updateAnomalyGauge(conn.db, NOW);
    expect(await tableFingerprint(conn.db)).toEqual(before);
  });

  it('gives the same rows from the recorded active-user counts as from daily_activity itself', async () => {
    const months = ['2026-10', '2026-11'];
    const withCounts = await Promise.all(months.map((month) => reconcileMonth(conn.db, { month, now: NOW })));
    const { rows: recorded } = await sql<{ fresh: string }>`
      SELECT count(*)::text AS fresh FROM day_activity_counts c
      WHERE c.revision >= coalesce((SELECT max(m.revision) FROM day_marks m
                                    WHERE m.tenant_id = c.tenant_id AND c.day BETWEEN m.from_day AND m.to_day), 0)`.execute(
      conn.db,
    );
    expect(Number(recorded[0]?.fresh)).toBeGreaterThan(20); // the counts are really used
    // Both months at once (the console's overview) give each month's own answer.
    expect(await reconcileMonths(conn.db, { months, now: NOW })).toEqual(withCounts);
    const saved = await sql`SELECT * FROM day_activity_counts`.execute(conn.db);
    await sql`DELETE FROM day_activity_counts`.execute(conn.db);
    try {
      const recounted = await Promise.all(
        months.map((month) => reconcileMonth(conn.db, { month, now: NOW })),
      );
      expect(recounted).toEqual(withCounts);
    } finally {
      await sql`INSERT INTO day_activity_counts SELECT * FROM json_populate_recordset(NULL::day_activity_counts, ${JSON.stringify(saved.rows)}::json)`.execute(
        conn.db,
      );
    }
  });

  it.each([
    [{ month: '2026-12' }, 'MONTH_IN_FUTURE', 'month 2026-12 is in the future'],
    [{ month: '2026-13' }, 'INVALID_INPUT', 'invalid month "2026-13"'],
    [{ month: '2026-10', tenantId: 'nope' }, 'UNKNOWN_TENANT', 'unknown tenant "nope"'],
  ])('refuses %o', async (q, code, message) => {
    const error = await reconcileMonth(conn.db, { ...q, now: NOW }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).code).toBe(code);
    expect((error as InputError).message).toContain(message);
  });
});
