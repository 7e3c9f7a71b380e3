import { formatMinor } from '../domain/money.ts';
import type { Reconciliation } from './reconcile.service.ts';

/**
 * The terminal view of a reconciliation: a table, one line per tenant-day; rows with anomalies
 * are marked `!` and, with `color`, shown in red, their anomalies listed under the table.
 */
export function formatReconciliation(r: Reconciliation, color = false): string {
  const header = [
    'tenant',
    'day',
    'http',
    'file',
    'stream',
    'dup',
    'rejects',
    'active',
    'lines',
    'total',
    'status',
    'anomalies',
  ];
  const table = r.rows.map((x) => [
    x.tenantId,
    x.day,
    String(x.accepted.http),
    String(x.accepted.file),
    String(x.accepted.stream),
    String(x.duplicates),
    String(x.rejectsOpen),
    String(x.activeUsers),
    String(x.lines),
    `${formatMinor(x.total, x.currency)} ${x.currency}`,
    x.status,
    x.anomalies.length === 0 ? '' : `! ${x.anomalies.map((a) => a.code).join(',')}`,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => (row[c] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) =>
        c >= 2 && c <= 9 ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number),
      )
      .join('  ')
      .trimEnd();
  const red = (s: string) => (color ? `\u001b[31m${s}\u001b[0m` : s);
  const out = [
    line(header),
    ...table.map((row, i) => ((r.rows[i]?.anomalies.length ?? 0) > 0 ? red(line(row)) : line(row))),
  ];
  const flagged = r.rows.filter((x) => x.anomalies.length > 0);
  if (flagged.length > 0) {
    out.push('', 'anomalies:');
    for (const x of flagged)
      for (const a of x.anomalies) out.push(red(`  ${x.tenantId} ${x.day} ${a.code}: ${a.message}`));
  }
  out.push(
    '',
    `month ${r.month}: ${r.rows.length} tenant-days, ${flagged.length} with anomalies, ${r.unattributedRejects} unattributed open rejects`,
  );
  return out.join('\n');
}

/**
 * The same reconciliation folded to one line per tenant and status (days, first..last, events,
 * lines, total), anomalies listed below (at most `maxAnomalies`): a month that fits a screen,
 * for the demo on a terminal. Sums are over the rows, so they equal the full table's.
 */
export function formatReconciliationByStatus(r: Reconciliation, maxAnomalies = 5): string {
  const groups = new Map<
    string,
    { tenantId: string; status: string; currency: string; rows: Reconciliation['rows'] }
  >();
  for (const x of r.rows) {
    const key = `${x.tenantId}\u0000${x.status}`;
    const g = groups.get(key) ?? { tenantId: x.tenantId, status: x.status, currency: x.currency, rows: [] };
    g.rows.push(x);
    groups.set(key, g);
  }
  const header = ['tenant', 'status', 'days', 'from', 'to', 'events', 'lines', 'total'];
  const table = [...groups.values()].map((g) => {
    const sum = (f: (x: Reconciliation['rows'][number]) => number) => g.rows.reduce((a, x) => a + f(x), 0);
    return [
      g.tenantId,
      g.status,
      String(g.rows.length),
      g.rows[0]?.day ?? '',
      g.rows.at(-1)?.day ?? '',
      String(sum((x) => x.accepted.http + x.accepted.file + x.accepted.stream)),
      String(sum((x) => x.lines)),
      `${formatMinor(
        sum((x) => x.total),
        g.currency,
      )} ${g.currency}`,
    ];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...table.map((row) => (row[c] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) =>
        c === 2 || c >= 5 ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number),
      )
      .join('  ')
      .trimEnd();
  const out = [line(header), ...table.map(line)];
  const flagged = r.rows.flatMap((x) =>
    x.anomalies.map((a) => `  ${x.tenantId} ${x.day} ${a.code}: ${a.message}`),
  );
  if (flagged.length > 0) {
    out.push('anomalies:', ...flagged.slice(0, maxAnomalies));
    if (flagged.length > maxAnomalies) out.push(`  ... and ${flagged.length - maxAnomalies} more`);
  }
  const days = new Set(r.rows.filter((x) => x.anomalies.length > 0).map((x) => `${x.tenantId} ${x.day}`))
    .size;
  out.push(
    `month ${r.month}: ${r.rows.length} tenant-days, ${days} with anomalies, ${r.unattributedRejects} unattributed open rejects`,
  );
  return out.join('\n');
}
