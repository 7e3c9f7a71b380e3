import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileImportResult } from '../../src/ingest/event-file-import.ts';
import { BIN, lastJsonLine, runCli, tenantAddArgs } from '../support/cli.ts';
import { freePort } from '../support/services.ts';
import { createCliDatabase, type TestDatabase } from '../support/test-database.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'billing-ingest-'));
const write = (name: string, content: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
};
const ev = (eventId: string, userId: string, occurredAt: string, tenantId = 'acme') =>
  JSON.stringify({ eventId, tenantId, userId, occurredAt });

describe('billing ingest and serve on PostgreSQL', () => {
  let tdb: TestDatabase;
  let env: Record<string, string>;
  const scalar = async (query: ReturnType<typeof sql<{ n: string }>>) =>
    Number((await query.execute(tdb.db)).rows[0]?.n);

  beforeAll(async () => {
    ({ tdb, env } = await createCliDatabase());
    // acme2 and kol2: the settings import never killed, beside the killed one's acme and kol.
    for (const [id, tz] of [
      ['acme', 'Europe/Prague'],
      ['kol', 'Asia/Kolkata'],
      ['acme2', 'Europe/Prague'],
      ['kol2', 'Asia/Kolkata'],
    ] as const)
      expect((await runCli(tenantAddArgs(id, id, tz), { env })).code).toBe(0);
  });
  afterAll(async () => tdb?.close());

  it('imports NDJSON and CSV, prints the counts, exits 2 when some lines were rejected', async () => {
    const ndjson = write(
      'a.ndjson',
      [
        ev('n1', 'u1', '2026-11-10T08:00:00Z'),
        '',
        'garbage',
        ev('n1', 'u1', '2026-11-10T09:00:00+01:00'),
        ev('n2', 'u1', '2026-11-10T08:00:00'),
      ].join('\n'),
    );
    const a = await runCli(['ingest', ndjson, '--json'], { env });
    expect(a.code).toBe(2);
    expect(a.stdout.trim().split('\n').at(-1)).toBe('{"accepted":1,"duplicates":1,"rejected":2}');
    expect(a.stderr).toContain(`${ndjson}:3: not valid JSON`);
    expect(a.stderr).toContain(`${ndjson}:5: occurredAt`);
    const csv = write(
      'b.csv',
      'event_id,tenant_id,user_id,occurred_at\nc1,acme,u1,2026-11-10T08:00:00Z\n"c2",kol,"u,2",2026-11-10T23:59:59.999+05:30\n',
    );
    const b = await runCli(['ingest', csv, '--json'], { env });
    expect(b.code).toBe(0);
    expect(lastJsonLine(b.stdout)).toEqual({ accepted: 2, duplicates: 0, rejected: 0 });
    const stdin = await runCli(['ingest', '-', '--format', 'csv', '--json'], {
      env,
      input: 'event_id,tenant_id,user_id,occurred_at\nc1,acme,u1,2026-11-10T08:00:00.000Z\n',
    });
    expect(lastJsonLine(stdin.stdout)).toEqual({ accepted: 0, duplicates: 1, rejected: 0 });
    const day = await tdb.db
      .selectFrom('login_events')
      .select('day')
      .where('event_id', '=', 'c2')
      .executeTakeFirstOrThrow();
    expect(day.day).toBe('2026-11-10');
    const rejects = await runCli(['ingest', 'rejects', '--tenant', 'acme', '--json'], { env });
    expect(rejects.code).toBe(0);
    expect(JSON.parse(rejects.stdout).map((r: { location: string }) => r.location)).toEqual([`${ndjson}:5`]);
    // the fixed line re-submitted is accepted and resolves its reject
    const fixed = await runCli(
      ['ingest', write('fixed.ndjson', ev('n2', 'u1', '2026-11-10T08:00:00Z')), '--json'],
      { env },
    );
    expect(lastJsonLine(fixed.stdout)).toEqual({ accepted: 1, duplicates: 0, rejected: 0 });
    const after = await runCli(['ingest', 'rejects', '--tenant', 'acme'], { env });
    expect(after.stdout.trim()).toBe('no rejects');
  });

  it('an import killed with SIGKILL half-way and run again ends with exact counts', async () => {
    const total = 200_000;
    const lines: string[] = [];
    const distinct = new Set<string>();
    for (let i = 0; i < total; i++) {
      // 5% repeats of an earlier event (same content), spread over the file
      const id = i % 20 === 19 ? `k${i - 7}` : `k${i}`;
      distinct.add(id);
      const n = Number(id.slice(1));
      lines.push(
        ev(
          id,
          `u${n % 1000}`,
          new Date(Date.UTC(2026, 9, 1) + n * 13_000).toISOString(),
          n % 2 ? 'acme' : 'kol',
        ),
      );
    }
    const file = write('big.ndjson', `${lines.join('\n')}\n`);
    const base = await scalar(sql<{ n: string }>`SELECT count(*) AS n FROM login_events`);
    const child = spawn(process.execPath, [BIN, 'ingest', file, '--batch-size', '5000'], {
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    for (let i = 0; i < 600; i++) {
      if ((await scalar(sql<{ n: string }>`SELECT count(*) AS n FROM login_events`)) - base >= 20_000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const atKill = (await scalar(sql<{ n: string }>`SELECT count(*) AS n FROM login_events`)) - base;
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(distinct.size);

    const again = await runCli(['ingest', file, '--json'], { env });
    expect(again.code).toBe(0);
    const counts = lastJsonLine<FileImportResult>(again.stdout);
    expect(counts.rejected).toBe(0);
    expect(counts.accepted).toBe(distinct.size - atKill);
    expect(counts.accepted + counts.duplicates).toBe(total);
    expect((await scalar(sql<{ n: string }>`SELECT count(*) AS n FROM login_events`)) - base).toBe(
      distinct.size,
    );
    // the daily activity is exactly the roll-up of the stored events: nothing counted twice
    const mismatches = await scalar(sql<{ n: string }>`
      SELECT count(*) AS n FROM (
        SELECT tenant_id, day, user_id, min(occurred_at) AS f, max(occurred_at) AS l, count(*)::int AS c
        FROM login_events GROUP BY 1, 2, 3
      ) e FULL JOIN daily_activity a USING (tenant_id, day, user_id)
      WHERE a.login_count IS DISTINCT FROM e.c OR a.first_login_at IS DISTINCT FROM e.f OR a.last_login_at IS DISTINCT FROM e.l
    `);
    expect(mismatches).toBe(0);
  });

  it('a settings import killed with SIGKILL with batches on the server, run again, stores what an import never killed stores', async () => {
    // Two tenants in every batch; every fifth user has a second version 3,001 lines later (a later
    // batch finds it known). Tenants acme2/kol2 get the same file by one import never killed.
    const users = 40_000;
    const line = (tenantId: string, n: number, later: boolean) =>
      JSON.stringify({
        tenantId,
        userId: `s${n}`,
        effectiveAt: new Date(Date.UTC(2026, 9, 1 + (n % 20), later ? 12 : 8)).toISOString(),
        role: later ? 'administrator' : n % 3 === 0 ? 'team_leader' : 'user',
        permissions: n % 2 === 0 ? ['communication'] : [],
        billing: n % 4 === 0 ? 'daily' : 'monthly',
      });
    const fileFor = (suffix: string) => {
      const out: string[] = [];
      for (let n = 0; n < users; n++) {
        const tenant = `${n % 2 ? 'acme' : 'kol'}${suffix}`;
        out.push(line(tenant, n, false));
        const first = n - 3_001;
        if (first >= 0 && first % 5 === 0)
          out.push(line(`${first % 2 ? 'acme' : 'kol'}${suffix}`, first, true));
      }
      return { file: write(`settings${suffix || '1'}.ndjson`, `${out.join('\n')}\n`), lines: out.length };
    };
    const killed = fileFor('');
    const versions = sql<{
      n: string;
    }>`SELECT count(*) AS n FROM settings_versions WHERE tenant_id IN ('acme', 'kol')`;
    const child = spawn(process.execPath, [BIN, 'users', 'import', killed.file], {
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    for (let i = 0; i < 600; i++) {
      if ((await scalar(versions)) >= 8_000) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const atKill = await scalar(versions);
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(killed.lines);

    const again = await runCli(['users', 'import', killed.file, '--json'], { env });
    expect(again.code).toBe(0);
    expect(lastJsonLine(again.stdout)).toEqual({
      stored: killed.lines - atKill,
      unchanged: atKill,
      refused: 0,
    });
    const clean = fileFor('2');
    const once = await runCli(['users', 'import', clean.file, '--json'], { env });
    expect(lastJsonLine(once.stdout)).toEqual({ stored: clean.lines, unchanged: 0, refused: 0 });
    // Versions and intervals, tenant by tenant: the killed-and-resumed import's equal the clean one's.
    const rowsOf = async (tenant: string) => {
      const v = await sql<{ r: string }>`
        SELECT (user_id, effective_at, settings, license, billing, record_calls, reasons)::text AS r
        FROM settings_versions WHERE tenant_id = ${tenant} ORDER BY 1`.execute(tdb.db);
      const i = await sql<{ r: string }>`
        SELECT (user_id, valid_from, valid_to, license, billing, record_calls)::text AS r
        FROM license_intervals WHERE tenant_id = ${tenant} ORDER BY 1`.execute(tdb.db);
      return [v.rows.map((x) => x.r), i.rows.map((x) => x.r)];
    };
    for (const tenant of ['acme', 'kol']) {
      const [resumed, cleanRows] = await Promise.all([rowsOf(tenant), rowsOf(`${tenant}2`)]);
      expect(resumed[0]?.length).toBeGreaterThan(22_000);
      expect(resumed).toEqual(cleanRows);
    }
  });

  it('serve answers HTTP, and on SIGTERM finishes and exits 0', async () => {
    const keyOut = await runCli(['tenants', 'key', '--tenant', 'acme'], { env });
    const key = keyOut.stdout.trim().split(/\s+/).at(-1) as string;
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port)], {
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 200; i++) {
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const events = Array.from({ length: 5000 }, (_, i) =>
      JSON.parse(ev(`http${i}`, `u${i % 10}`, '2026-11-11T10:00:00Z')),
    );
    const inFlight = fetch(`${url}/v1/login-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(((await res.json()) as { accepted: number }).accepted).toBe(5000);
    expect(await exited).toBe(0);
    const unauth = await runCli(['ingest', 'rejects', '--json'], { env });
    expect(unauth.code).toBe(0);
  });
});
