import { Writable } from 'node:stream';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import type { Db } from '../../src/db/database.ts';
import { filePartsPlan } from '../../src/db/repositories/invoice.repository.ts';
import { applyRunToMonthRows } from '../../src/db/repositories/invoice-month-row.repository.ts';
import { compareCodePoints, compareKeys } from '../../src/domain/code-point-order.ts';
import { formatMinor } from '../../src/domain/money.ts';
import { csvRecord, guardFormula } from '../../src/export/csv.ts';
import { writeInvoiceCsv } from '../../src/export/invoice-csv.ts';
import { BACKENDS } from '../support/backends.ts';

/** A Writable that keeps the exact bytes written to it. */
function sink() {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  return { stream, bytes: () => Buffer.concat(chunks), text: () => Buffer.concat(chunks).toString('utf8') };
}

async function exportCsv(db: Db, month: string, tenantId?: string, chunkSize?: number) {
  const out = sink();
  const result = await writeInvoiceCsv(db, { month, tenantId, chunkSize }, out.stream);
  return { ...result, bytes: out.bytes(), text: out.text() };
}

type Line = [userId: string, item: string, billing: string, amount: number, unitPrice: number];

/** One run of (tenant, day) with its lines, inserted directly (independent of the billing service). */
async function addRun(db: Db, tenantId: string, day: string, lines: Line[], current = true) {
  const total = lines.reduce((s, l) => s + l[3], 0);
  const { rows } = await sql<{ id: string }>`
    INSERT INTO runs (tenant_id, day, kind, trigger, is_current, input_revision, started_at, finished_at,
                      line_count, total, currency, superseded_at)
    SELECT ${tenantId}, ${day}::date, 'charge', 'manual', ${current}, 1, now(), now(), ${lines.length}, ${total},
           t.currency, ${current ? null : new Date('2026-12-01T00:00:00Z')}::timestamptz
    FROM tenants t WHERE t.id = ${tenantId}
    RETURNING id`.execute(db);
  const runId = rows[0]?.id as string;
  for (const [userId, item, billing, amount, unitPrice] of lines) {
    await sql`INSERT INTO charge_lines (run_id, user_id, item, billing, amount, unit_price, price_book_id)
              VALUES (${runId}, ${userId}, ${item}, ${billing}, ${amount}, ${unitPrice}, 1)`.execute(db);
  }
  // What billDay does in the run's transaction: the export reads the month rows it keeps.
  if (current) await applyRunToMonthRows(db, { tenantId, day, addedRunId: runId, removedRunId: null });
}

type AdjLine = [userId: string, item: string, billing: string, amount: number];

/** An adjustment run correcting `day` (of a closed period), its lines invoiced in `period`. */
async function addAdjustment(db: Db, tenantId: string, day: string, period: string, lines: AdjLine[]) {
  const { rows } = await sql<{ id: string; currency: string }>`
    INSERT INTO runs (tenant_id, day, kind, trigger, is_current, input_revision, started_at, finished_at,
                      line_count, total, currency)
    SELECT ${tenantId}, ${day}::date, 'adjustment', 'replay', false, 1, now(), now(), ${lines.length}, 0, t.currency
    FROM tenants t WHERE t.id = ${tenantId}
    RETURNING id, currency`.execute(db);
  const run = rows[0] as { id: string; currency: string };
  for (const [userId, item, billing, amount] of lines) {
    await sql`INSERT INTO adjustment_lines (run_id, tenant_id, period, day, user_id, item, billing, amount, currency)
              VALUES (${run.id}, ${tenantId}, ${period}, ${day}::date, ${userId}, ${item}, ${billing}, ${amount},
                      ${run.currency})`.execute(db);
  }
}

interface NamedVersion {
  userId: string;
  at: string;
  lastName: string | null;
  email: string | null;
  active?: boolean;
  importedAt?: string;
}

/** Settings versions that only matter for the names they carry (license standard, monthly). */
async function addVersions(db: Db, tenantId: string, versions: readonly NamedVersion[]) {
  for (const v of versions) {
    await sql`INSERT INTO settings_versions (tenant_id, user_id, effective_at, active, email, last_name, settings,
                                             license, billing, record_calls, reasons, imported_at)
              VALUES (${tenantId}, ${v.userId}, ${v.at}::timestamptz, ${v.active ?? true}, ${v.email},
                      ${v.lastName}, '{}', 'standard', 'monthly', false, '[]',
                      ${v.importedAt ?? '2026-10-01T00:00:00Z'}::timestamptz)`.execute(db);
  }
}

const days = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `2026-11-${String(from + i).padStart(2, '0')}`);

/** Builds the fixture: per tenant-day one run holding all that day's lines. */
async function seed(db: Db) {
  await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES
    ('acme', 'Acme', 'Europe/Prague', 'EUR'), ('fin', 'Fin', 'Europe/Prague', 'EUR'),
    ('jp', 'JP', 'Asia/Tokyo', 'JPY'), ('kw', 'KW', 'Asia/Kuwait', 'KWD')`.execute(db);

  const acme = new Map<string, Line[]>();
  const add = (day: string, line: Line) => acme.set(day, [...(acme.get(day) ?? []), line]);
  add('2026-11-01', ["'q", 'license.standard', 'monthly', 63, 1900]);
  add('2026-11-02', ["'q", 'license.standard', 'monthly', 63, 1900]);
  for (const id of ['\tt', '\rr', '+1', '-2', '=s', '@m'])
    add('2026-11-03', [id, 'license.dashboard', 'monthly', 16, 500]);
  // Z: daily with a price change on the 15th, then monthly from the 17th; recording on two days.
  for (const d of days(1, 14)) add(d, ['Z', 'license.professional', 'daily', 250, 250]);
  for (const d of days(15, 16)) add(d, ['Z', 'license.professional', 'daily', 200, 200]);
  for (const d of days(17, 30)) add(d, ['Z', 'license.professional', 'monthly', 130, 3900]);
  for (const d of days(1, 2)) add(d, ['Z', 'addon.recording', 'daily', 50, 50]);
  for (const d of days(1, 30)) add(d, ['a', 'license.standard', 'monthly', 63, 1900]);
  add('2026-11-04', ['a,b', 'license.dashboard', 'monthly', 0, 500]);
  add('2026-11-05', ['é', 'license.enterprise', 'monthly', 196, 5900]);
  add('2026-11-06', ['ｚ', 'license.developer', 'monthly', 330, 9900]);
  add('2026-11-07', ['😀', 'license.standard', 'monthly', 63, 1900]);
  for (const [day, lines] of [...acme].sort()) await addRun(db, 'acme', day, lines);
  // Not in the export: a superseded run of the month, current runs of neighbouring months.
  await addRun(db, 'acme', '2026-11-08', [['a', 'license.standard', 'monthly', 9999, 1900]], false);
  await addRun(db, 'acme', '2026-10-31', [['a', 'license.standard', 'monthly', 7777, 1900]]);
  await addRun(db, 'acme', '2026-12-01', [['a', 'license.standard', 'monthly', 7777, 1900]]);
  // Adjustments invoiced in 2026-11 for October days: two runs corrected the 5th.
  await addAdjustment(db, 'acme', '2026-10-05', '2026-11', [
    ['a', 'adjustment.license.standard', 'monthly', -32],
  ]);
  await addAdjustment(db, 'acme', '2026-10-05', '2026-11', [
    ['a', 'adjustment.license.standard', 'monthly', -100],
  ]);
  await addAdjustment(db, 'acme', '2026-10-07', '2026-11', [
    ['a', 'adjustment.license.standard', 'monthly', -68],
  ]);
  await addAdjustment(db, 'acme', '2026-10-10', '2026-11', [
    ['ž', 'adjustment.addon.recording', 'monthly', 50],
  ]);
  await addAdjustment(db, 'acme', '2026-10-10', '2026-11', [
    ['ž', 'adjustment.addon.recording', 'monthly', -50],
  ]);
  await addAdjustment(db, 'acme', '2026-11-02', '2026-12', [
    ['a', 'adjustment.license.standard', 'monthly', 5555],
  ]);

  // Names: the latest version before the end of November in Prague (2026-11-30T23:00Z), active or not.
  await addVersions(db, 'acme', [
    { userId: 'a', at: '2026-10-01T00:00:00Z', lastName: 'Old', email: 'old@acme.example' },
    { userId: 'a', at: '2026-11-30T22:59:59.999Z', lastName: 'Last', email: 'last@acme.example' },
    { userId: 'a', at: '2026-11-30T23:00:00Z', lastName: 'December', email: 'dec@acme.example' },
    { userId: 'a,b', at: '2026-10-01T00:00:00Z', lastName: 'O"Brien, Jr.', email: '-x@acme.example' },
    { userId: 'é', at: '2026-10-01T00:00:00Z', lastName: 'Line\nBreak', email: 'cr\r@acme.example' },
    { userId: '😀', at: '2026-10-01T00:00:00Z', lastName: 'Smile', email: 's@acme.example' },
    { userId: '😀', at: '2026-11-07T12:00:00Z', lastName: '@Gone', email: null, active: false },
  ]);

  // fin: November is closed; a back-dated version imported after the close is not shown, also
  // within the closing millisecond (the cut-off keeps its microseconds).
  await addRun(db, 'fin', '2026-11-01', [['u1', 'license.standard', 'monthly', 63, 1900]]);
  await addVersions(db, 'fin', [
    {
      userId: 'u1',
      at: '2026-11-10T10:00:00Z',
      lastName: 'Before',
      email: 'before@fin.example',
      importedAt: '2026-12-05T00:00:00.000400Z',
    },
    {
      userId: 'u1',
      at: '2026-11-20T10:00:00Z',
      lastName: 'AfterClose',
      email: 'after@fin.example',
      importedAt: '2026-12-05T00:00:00.000600Z',
    },
  ]);
  await sql`INSERT INTO periods (tenant_id, month, closed_at) VALUES ('fin', '2026-11', '2026-12-05T00:00:00.000500Z')`.execute(
    db,
  );

  for (const d of days(1, 3)) await addRun(db, 'jp', d, [['k1', 'license.professional', 'daily', 300, 300]]);
  await addAdjustment(db, 'jp', '2026-10-20', '2026-11', [
    ['k1', 'adjustment.license.professional', 'daily', -50],
  ]);
  await addRun(db, 'kw', '2026-11-01', [['w1', 'license.enterprise', 'monthly', 1234567, 12345]]);
  await addAdjustment(db, 'kw', '2026-10-02', '2026-11', [
    ['w1', 'adjustment.license.enterprise', 'monthly', -5],
  ]);
}

const INVOICE_HEADER_LINE =
  'period,tenant_id,user_id,user_last_name,user_email,item,billing,quantity,unit_price,amount,currency,first_day,last_day\r\n';

const EXPECTED = [
  'period,tenant_id,user_id,user_last_name,user_email,item,billing,quantity,unit_price,amount,currency,first_day,last_day',
  "2026-11,acme,'\tt,,,license.dashboard,monthly,1,5.00,0.16,EUR,2026-11-03,2026-11-03",
  `2026-11,acme,"'\rr",,,license.dashboard,monthly,1,5.00,0.16,EUR,2026-11-03,2026-11-03`,
  "2026-11,acme,'q,,,license.standard,monthly,2,19.00,1.26,EUR,2026-11-01,2026-11-02",
  "2026-11,acme,'+1,,,license.dashboard,monthly,1,5.00,0.16,EUR,2026-11-03,2026-11-03",
  "2026-11,acme,'-2,,,license.dashboard,monthly,1,5.00,0.16,EUR,2026-11-03,2026-11-03",
  "2026-11,acme,'=s,,,license.dashboard,monthly,1,5.00,0.16,EUR,2026-11-03,2026-11-03",
  "2026-11,acme,'@m,,,license.dashboard,monthly,1,5.00,0.16,EUR,2026-11-03,2026-11-03",
  '2026-11,acme,Z,,,addon.recording,daily,2,0.50,1.00,EUR,2026-11-01,2026-11-02',
  '2026-11,acme,Z,,,license.professional,daily,14,2.50,35.00,EUR,2026-11-01,2026-11-14',
  '2026-11,acme,Z,,,license.professional,daily,2,2.00,4.00,EUR,2026-11-15,2026-11-16',
  '2026-11,acme,Z,,,license.professional,monthly,14,39.00,18.20,EUR,2026-11-17,2026-11-30',
  '2026-11,acme,a,Last,last@acme.example,adjustment.license.standard,monthly,2,,-2.00,EUR,2026-10-05,2026-10-07',
  '2026-11,acme,a,Last,last@acme.example,license.standard,monthly,30,19.00,18.90,EUR,2026-11-01,2026-11-30',
  `2026-11,acme,"a,b","O""Brien, Jr.",'-x@acme.example,license.dashboard,monthly,1,5.00,0.00,EUR,2026-11-04,2026-11-04`,
  `2026-11,acme,é,"Line\nBreak","cr\r@acme.example",license.enterprise,monthly,1,59.00,1.96,EUR,2026-11-05,2026-11-05`,
  '2026-11,acme,ž,,,adjustment.addon.recording,monthly,1,,0.00,EUR,2026-10-10,2026-10-10',
  '2026-11,acme,ｚ,,,license.developer,monthly,1,99.00,3.30,EUR,2026-11-06,2026-11-06',
  "2026-11,acme,😀,'@Gone,,license.standard,monthly,1,19.00,0.63,EUR,2026-11-07,2026-11-07",
  '2026-11,fin,u1,Before,before@fin.example,license.standard,monthly,1,19.00,0.63,EUR,2026-11-01,2026-11-01',
  '2026-11,jp,k1,,,adjustment.license.professional,daily,1,,-50,JPY,2026-10-20,2026-10-20',
  '2026-11,jp,k1,,,license.professional,daily,3,300,900,JPY,2026-11-01,2026-11-03',
  '2026-11,kw,w1,,,adjustment.license.enterprise,monthly,1,,-0.005,KWD,2026-10-02,2026-10-02',
  '2026-11,kw,w1,,,license.enterprise,monthly,1,12.345,1234.567,KWD,2026-11-01,2026-11-01',
]
  .map((r) => `${r}\r\n`)
  .join('');

/** Parses an amount cell back to minor units, exactly (no floats). */
const toMinor = (text: string, digits: number) => {
  const [int = '0', frac = ''] = text.replace('-', '').split('.');
  expect(frac.length).toBe(digits);
  const value = Number(int + frac);
  return text.startsWith('-') ? -value : value;
};

/** Splits the file into records on CRLF outside quotes, and records into cells. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      cells.push(cell);
      records.push(cells);
      cells = [];
      cell = '';
      i++;
    } else cell += c;
  }
  expect(cell).toBe('');
  expect(cells).toEqual([]);
  return records;
}

async function databaseTotals(db: Db, month: string, firstDay: string, lastDay: string) {
  const { rows } = await sql<{ currency: string; total: string }>`
    SELECT currency::text AS currency, sum(amount)::text AS total FROM (
      SELECT r.currency, l.amount FROM runs r JOIN charge_lines l ON l.run_id = r.id
      WHERE r.is_current AND r.day BETWEEN ${firstDay}::date AND ${lastDay}::date
      UNION ALL
      SELECT currency, amount FROM adjustment_lines WHERE period = ${month}
    ) x GROUP BY currency`.execute(db);
  return Object.fromEntries(rows.map((r) => [r.currency, Number(r.total)]));
}

/**
 * Hostile names, ids and e-mails with their cells as the file must hold them (written out by
 * hand): quotes, commas, CR, LF, CRLF, the formula guard, spaces, unicode, empty and NULL, long
 * values, and the strings COPY treats specially in other settings (`\.`, `\N`, NULL).
 */
const HOSTILE: [userId: string, lastName: string | null, email: string | null, cells: string][] = [
  ['h01', '"', 'a"b', 'h01,"""","a""b"'],
  ['h02', ',', '""', 'h02,",",""""""'],
  ['h03', '\r', '\n', `h03,"'\r","\n"`],
  ['h04', 'x\r\ny', '\r\n', `h04,"x\r\ny","'\r\n"`],
  ['h05', ' lead', 'trail ', 'h05, lead,trail '],
  ['h06', ' ', '', 'h06, ,'],
  ['h07', '=1+1', '+1', "h07,'=1+1,'+1"],
  ['h08', '-1', '@x', "h08,'-1,'@x"],
  ['h09', '\tt', "'q", "h09,'\tt,'q"],
  ['h10', 'é😀ｚ', null, 'h10,é😀ｚ,'],
  ['h11', null, null, 'h11,,'],
  ['h12', `${'x'.repeat(3000)},`, '\\.', `h12,"${'x'.repeat(3000)},",\\.`],
  ['h13', '\\N', 'NULL', 'h13,\\N,NULL'],
  ['h14', '=",\r\n', '"=', `h14,"'="",\r\n","""="`],
  ['h15', '', '', 'h15,,'],
  ['u"1', null, null, '"u""1",,'],
  ['u,2', 'n', 'e', '"u,2",n,e'],
  ['=u3', null, null, "'=u3,,"],
  ['u\n4', null, null, '"u\n4",,'],
  ['-u\r\n5', null, null, `"'-u\r\n5",,`],
  [' u6 ', null, null, ' u6 ,,'],
];

/** The export of `month` (one tenant) by the auto path (COPY on PostgreSQL) and by the cursor. */
async function bothPaths(db: Db, month: string, tenantId: string) {
  const viaCursor = sink();
  const cursor = await writeInvoiceCsv(db, { month, tenantId, onRow: () => {} }, viaCursor.stream);
  const auto = await exportCsv(db, month, tenantId);
  return { auto, cursor: { ...cursor, bytes: viaCursor.bytes(), text: viaCursor.text() } };
}

describe.each(BACKENDS)('invoice CSV export on $name', ({ open }) => {
  let conn: DatabaseConnection;
  beforeAll(async () => {
    conn = await open();
    await seed(conn.db);
  });
  afterAll(async () => conn?.close());

  it('writes the fixture byte for byte: header, order by UTF-8 bytes, guard, quoting, money, CRLF', async () => {
    const out = await exportCsv(conn.db, '2026-11');
    expect(out.text).toBe(EXPECTED);
    expect(out.bytes.equals(Buffer.from(EXPECTED, 'utf8'))).toBe(true);
    expect(out.bytes.subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf]))).toBe(false);
    expect(out.rows).toBe(EXPECTED.split('\r\n').length - 2);
  });

  it('formats in SQL (the COPY path) exactly what invoiceRecord formats (the cursor path)', async () => {
    // `onRow` makes the export read by cursor and format in TypeScript; without it real
    // PostgreSQL formats every record in SQL and streams them by COPY.
    for (const tenantId of [undefined, 'jp', 'kw']) {
      const viaCursor = sink();
      const seen: string[] = [];
      const cursor = await writeInvoiceCsv(
        conn.db,
        { month: '2026-11', tenantId, onRow: (r) => seen.push(r.userId) },
        viaCursor.stream,
      );
      const auto = await exportCsv(conn.db, '2026-11', tenantId);
      expect(auto.bytes.equals(viaCursor.bytes())).toBe(true);
      expect(auto.rows).toBe(cursor.rows);
      expect(seen).toHaveLength(cursor.rows);
      expect(Object.fromEntries(auto.totals)).toEqual(Object.fromEntries(cursor.totals));
    }
  });

  it('gives the same bytes whatever the fetch size (chunk boundaries are invisible)', async () => {
    for (const chunkSize of [1, 2, 7])
      expect((await exportCsv(conn.db, '2026-11', undefined, chunkSize)).text).toBe(EXPECTED);
  });

  it("sums to the database's total of the period's current and adjustment lines, per currency", async () => {
    const out = await exportCsv(conn.db, '2026-11');
    const digits: Record<string, number> = { EUR: 2, JPY: 0, KWD: 3 };
    const fromFile: Record<string, number> = {};
    for (const cells of parseCsv(out.text).slice(1)) {
      const currency = cells[10] as string;
      fromFile[currency] =
        (fromFile[currency] ?? 0) + toMinor(cells[9] as string, digits[currency] as number);
    }
    const db = await databaseTotals(conn.db, '2026-11', '2026-11-01', '2026-11-30');
    expect(fromFile).toEqual(db);
    expect(Object.fromEntries(out.totals)).toEqual(db);
    expect(db).toEqual({
      EUR: 2 * 63 + 6 * 16 + 3500 + 400 + 1820 + 100 + 1890 - 200 + 196 + 330 + 63 + 63,
      JPY: 850,
      KWD: 1234562,
    });
  });

  it('exports one tenant with --tenant, and only the header for a month without lines', async () => {
    const jp = await exportCsv(conn.db, '2026-11', 'jp');
    expect(jp.text).toBe(
      EXPECTED.split('\r\n')
        .filter((r, i) => i === 0 || r.startsWith('2026-11,jp,'))
        .map((r) => `${r}\r\n`)
        .join(''),
    );
    const empty = await exportCsv(conn.db, '2027-01');
    expect(empty.text).toBe(`${EXPECTED.split('\r\n')[0]}\r\n`);
    expect(empty.rows).toBe(0);
  });

  it("plans every tenant's part in one statement: month rows current or not, closed_at, currencies", async () => {
    const end = new Date('2026-12-01T00:00:00Z');
    const tenants = ['kw', 'jp', 'fin', 'acme', 'none'].map((tenantId) => ({ tenantId, periodEnd: end }));
    const plan = await filePartsPlan(conn.db, { month: '2026-11', tenants });
    expect(plan.map((p) => [p.tenantId, p.fromLines, p.closedAt, p.currencies])).toEqual([
      // acme's superseded run of the 8th never was current: the month rows hold the current runs.
      ['acme', false, null, ['EUR']],
      // The cut-off keeps its microseconds (PostgreSQL's text, whatever the session's time zone).
      ['fin', false, expect.stringMatching(/^2026-12-0[45] \d\d:00:00\.0005(\+|-)\d\d/), ['EUR']],
      ['jp', false, null, ['JPY']],
      ['kw', false, null, ['KWD']],
      ['none', false, null, []],
    ]);
    // A run superseded by hand (not through billing): the part groups the month's lines itself.
    await sql`UPDATE runs SET is_current = false WHERE tenant_id = 'jp' AND day = '2026-11-02'`.execute(
      conn.db,
    );
    try {
      const jp = await filePartsPlan(conn.db, { month: '2026-11', tenants: tenants.slice(1, 2) });
      expect(jp.map((p) => [p.tenantId, p.fromLines])).toEqual([['jp', true]]);
    } finally {
      await sql`UPDATE runs SET is_current = true WHERE tenant_id = 'jp' AND day = '2026-11-02'`.execute(
        conn.db,
      );
    }
  });

  it('refuses an unknown tenant and a malformed month, naming them', async () => {
    await expect(exportCsv(conn.db, '2026-11', 'nobody')).rejects.toThrow(/"nobody"/);
    await expect(exportCsv(conn.db, '2026-13')).rejects.toThrow(/"2026-13"/);
  });

  it('orders a generated month like compareKeys and counts every line exactly once', async () => {
    await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES ('gen', 'Gen', 'America/New_York', 'USD')`.execute(
      conn.db,
    );
    const users = ['b', 'B', 'bb', 'b-', 'ä', 'Ä', '\u{1F600}', '\uFF5A', 'z', '0', '~'];
    for (const [i, day] of ['2027-03-01', '2027-03-08', '2027-03-31'].entries()) {
      await addRun(
        conn.db,
        'gen',
        day,
        users.flatMap((u, j): Line[] => [
          [u, 'license.standard', 'monthly', 61 + i + j, 1900],
          ...(j % 3 === 0 ? [[u, 'addon.recording', 'monthly', 29, 900] as Line] : []),
        ]),
      );
    }
    const out = await exportCsv(conn.db, '2027-03', 'gen', 3);
    const records = parseCsv(out.text).slice(1);
    const keys = records.map((c) => [c[1], c[2], c[5], c[6], c[11]] as string[]);
    expect(keys).toEqual([...keys].sort(compareKeys));
    expect(records).toHaveLength(users.length + 4);
    expect(records.every((c) => c[7] === '3' && c[11] === '2027-03-01' && c[12] === '2027-03-31')).toBe(true);
    const total = records.reduce((s, c) => s + toMinor(c[9] as string, 2), 0);
    expect(total).toBe((await databaseTotals(conn.db, '2027-03', '2027-03-01', '2027-03-31')).USD);
  });

  it('writes hostile names, ids and e-mails exactly, by COPY and by cursor alike', async () => {
    await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES ('hostile', 'H', 'Europe/Prague', 'EUR')`.execute(
      conn.db,
    );
    const named = HOSTILE.filter(([, lastName, email]) => lastName !== null || email !== null);
    await addVersions(
      conn.db,
      'hostile',
      named.map(([userId, lastName, email]) => ({ userId, at: '2028-01-01T00:00:00Z', lastName, email })),
    );
    await addRun(
      conn.db,
      'hostile',
      '2028-02-01',
      HOSTILE.map(([userId]): Line => [userId, 'license.standard', 'monthly', 63, 1900]),
    );
    const expected =
      INVOICE_HEADER_LINE +
      [...HOSTILE]
        .sort((a, b) => compareCodePoints(a[0], b[0]))
        .map(
          ([, , , cells]) =>
            `2028-02,hostile,${cells},license.standard,monthly,1,19.00,0.63,EUR,2028-02-01,2028-02-01\r\n`,
        )
        .join('');
    const { auto, cursor } = await bothPaths(conn.db, '2028-02', 'hostile');
    expect(auto.text).toBe(expected);
    expect(cursor.bytes.equals(auto.bytes)).toBe(true);
    expect(auto.rows).toBe(HOSTILE.length);
    expect(Object.fromEntries(auto.totals)).toEqual({ EUR: 63 * HOSTILE.length });
  });

  it('formats each row with its own currency when one part mixes them', async () => {
    // A tenant whose currency changed mid-month: its runs keep the currency they were made in.
    await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES ('multi', 'M', 'Europe/Prague', 'EUR')`.execute(
      conn.db,
    );
    await addRun(conn.db, 'multi', '2028-02-01', [['m1', 'license.standard', 'monthly', -5, 1900]]);
    await sql`UPDATE tenants SET currency = 'KWD' WHERE id = 'multi'`.execute(conn.db);
    await addRun(conn.db, 'multi', '2028-02-02', [['m1', 'license.standard', 'monthly', 1234567, 19000]]);
    await sql`UPDATE tenants SET currency = 'JPY' WHERE id = 'multi'`.execute(conn.db);
    await addRun(conn.db, 'multi', '2028-02-03', [['m0', 'license.standard', 'monthly', 7, 190]]);
    const { auto, cursor } = await bothPaths(conn.db, '2028-02', 'multi');
    expect(auto.text).toBe(
      `${INVOICE_HEADER_LINE}2028-02,multi,m0,,,license.standard,monthly,1,190,7,JPY,2028-02-03,2028-02-03\r\n` +
        '2028-02,multi,m1,,,license.standard,monthly,1,19.00,-0.05,EUR,2028-02-01,2028-02-01\r\n' +
        '2028-02,multi,m1,,,license.standard,monthly,1,19.000,1234.567,KWD,2028-02-02,2028-02-02\r\n',
    );
    expect(cursor.bytes.equals(auto.bytes)).toBe(true);
    expect(Object.fromEntries(auto.totals)).toEqual({ EUR: -5, JPY: 7, KWD: 1234567 });
  });

  it('gives the same bytes by COPY and by cursor for any names (property)', async () => {
    await sql`INSERT INTO tenants (id, name, timezone, currency) VALUES ('prop', 'P', 'Europe/Prague', 'EUR')`.execute(
      conn.db,
    );
    const char = fc.constantFrom(
      '"',
      ',',
      '\r',
      '\n',
      '=',
      '+',
      '-',
      '@',
      '\t',
      ' ',
      "'",
      '\\',
      '.',
      'N',
      'a',
      'é',
      'ｚ',
      '😀',
    );
    const text = fc.string({ unit: char, maxLength: 8 });
    let month = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.record({
            userId: fc.string({ unit: char, minLength: 1, maxLength: 6 }),
            lastName: fc.option(text),
            email: fc.option(text),
          }),
          { selector: (u) => u.userId, minLength: 1, maxLength: 6 },
        ),
        fc.integer({ min: -99999, max: 99999 }).filter((a) => a !== 0),
        async (users, amount) => {
          month += 1;
          const period = `${2030 + Math.floor((month - 1) / 12)}-${String(((month - 1) % 12) + 1).padStart(2, '0')}`;
          const day = `${period}-01`;
          await addVersions(
            conn.db,
            'prop',
            users.map((u) => ({ ...u, at: `${day}T00:00:00Z` })),
          );
          await addRun(
            conn.db,
            'prop',
            day,
            users.map((u): Line => [u.userId, 'addon.recording', 'daily', amount, 50]),
          );
          const expected =
            INVOICE_HEADER_LINE +
            [...users]
              .sort((a, b) => compareCodePoints(a.userId, b.userId))
              .map((u) =>
                csvRecord([
                  period,
                  'prop',
                  guardFormula(u.userId),
                  guardFormula(u.lastName ?? ''),
                  guardFormula(u.email ?? ''),
                  'addon.recording',
                  'daily',
                  '1',
                  '0.50',
                  formatMinor(amount, 'EUR'),
                  'EUR',
                  day,
                  day,
                ]),
              )
              .join('');
          const { auto, cursor } = await bothPaths(conn.db, period, 'prop');
          expect(auto.text).toBe(expected);
          expect(cursor.bytes.equals(auto.bytes)).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });
});
