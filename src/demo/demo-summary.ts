import type { InvoiceRow } from '../db/repositories/invoice.repository.ts';
import { compareKeys } from '../domain/code-point-order.ts';
import { formatMinor, type Minor, sumMinor } from '../domain/money.ts';
import type { ChargeExplanation } from '../insight/explain.service.ts';
import { formatExplanation } from '../insight/explain-format.ts';
import type { Reconciliation } from '../insight/reconcile.service.ts';
import { formatReconciliation, formatReconciliationByStatus } from '../insight/reconcile-format.ts';

/** Users and amount of one item (`license.<license>` or `addon.recording`) in one billing mode. */
export interface SummaryRow {
  item: string;
  billing: string;
  users: number;
  amount: Minor;
}

/** Collects invoice rows into per (item, billing mode) users and amounts, in minor units. */
export class InvoiceSummary {
  readonly #groups = new Map<string, { item: string; billing: string; users: Set<string>; amount: Minor }>();

  add(row: InvoiceRow): void {
    const key = `${row.item}\u0000${row.billing}`;
    let group = this.#groups.get(key);
    if (!group) {
      group = { item: row.item, billing: row.billing, users: new Set(), amount: 0 };
      this.#groups.set(key, group);
    }
    group.users.add(row.userId);
    group.amount = sumMinor([group.amount, row.amount]);
  }

  /** The rows ordered by item and billing mode (code points). */
  rows(): SummaryRow[] {
    return [...this.#groups.values()]
      .map((g) => ({ item: g.item, billing: g.billing, users: g.users.size, amount: g.amount }))
      .sort((a, b) => compareKeys([a.item, a.billing], [b.item, b.billing]));
  }
}

/**
 * The summary as a plain-text table: one line per item and billing mode, then the total.
 * Amounts in major units of `currency` (the sum of the amount column is the total).
 */
export function formatSummary(rows: readonly SummaryRow[], currency: string): string {
  const total = sumMinor(rows.map((r) => r.amount));
  const table = [
    ['item', 'billing', 'users', `amount ${currency}`],
    ...rows.map((r) => [r.item, r.billing, String(r.users), formatMinor(r.amount, currency)]),
    ['total', '', '', formatMinor(total, currency)],
  ];
  const widths = [0, 1, 2, 3].map((c) => Math.max(...table.map((r) => (r[c] as string).length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => (c >= 2 ? cell.padStart(widths[c] as number) : cell.padEnd(widths[c] as number)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [
    line(table[0] as string[]),
    rule,
    ...table.slice(1, -1).map(line),
    rule,
    line(table.at(-1) as string[]),
  ].join('\n');
}

/** The end of the demo: one `billing explain` and the `billing reconcile` table of the month. */
export function formatInsight(
  insight: { explain: ChargeExplanation; reconcile: Reconciliation },
  fold = false,
): string {
  const e = insight.explain;
  const reconcile = `billing reconcile --month ${insight.reconcile.month} --tenant ${e.tenantId}`;
  const explain = `billing explain --tenant ${e.tenantId} --user ${e.userId} --day ${e.days[0]?.day ?? ''}`;
  return [
    fold ? `${explain}   (shortened here: that command lists the login events too)` : explain,
    fold ? foldExplanation(formatExplanation(e)) : formatExplanation(e),
    '',
    fold ? `${reconcile}   (folded by status here; that command prints a row per day)` : reconcile,
    fold ? formatReconciliationByStatus(insight.reconcile) : formatReconciliation(insight.reconcile),
  ].join('\n');
}

/** One day's explanation without its blank lines, header, one-day total and event listing. */
function foldExplanation(text: string): string {
  return text
    .split('\n')
    .filter(
      (l) => l.trim() !== '' && !/^user \S+ of tenant /.test(l) && !l.startsWith('total of the days shown'),
    )
    .filter((l) => !/^ {4}\d{4}-\d\d-\d\dT/.test(l))
    .join('\n');
}
