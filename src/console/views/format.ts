import { formatMinor } from '../../domain/money.ts';

/** Minor units as major units with thousands separators: 123456789 EUR -> "1,234,567.89". */
export function money(amount: number, currency: string): string {
  const [int, frac] = formatMinor(amount, currency).split('.');
  const sign = (int as string).startsWith('-') ? '-' : '';
  const digits = (int as string).replace('-', '').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${digits}${frac === undefined ? '' : `.${frac}`}`;
}

/** A signed difference: "+1.50", "-0.32", "0.00". */
export function delta(amount: number, currency: string): string {
  return `${amount > 0 ? '+' : ''}${money(amount, currency)}`;
}

export const count = (n: number): string => n.toLocaleString('en');

/** An instant in UTC, to the second: "2026-11-02 05:00:13 UTC". */
export function instant(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export const enc = encodeURIComponent;

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
