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
