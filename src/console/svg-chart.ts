import { formatMinor, minorDigits } from '../domain/money.ts';
import { type Html, html } from './html.ts';

export interface ChartDay {
  day: string;
  /** Minor units; 0 for a day without a current run. */
  total: number;
  activeUsers: number;
  billed: boolean;
}

const W = 1100;
const H = 300;
const PAD = { left: 78, right: 64, top: 34, bottom: 40 };

/** 0 and 4 more evenly spaced "nice" values covering `max` (1, 2 or 5 times a power of ten). */
export function niceTicks(max: number): number[] {
  if (max <= 0) return [0, 1, 2, 3, 4];
  const raw = max / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
  return [0, 1, 2, 3, 4].map((i) => i * step);
}

const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });

/**
 * The month's daily totals (bars, left axis, in the currency) and active users (line, right
 * axis), drawn as SVG from the numbers alone: no script, readable by screen readers through its
 * title and description, and each bar and point has a tooltip title. Days without a current
 * run have no bar.
 */
export function dailyChart(days: readonly ChartDay[], currency: string, id = 'daily-chart'): Html {
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const unit = 10 ** minorDigits(currency);
  // Ticks at round amounts of the currency (major units), positioned in minor units.
  const money = niceTicks(Math.max(0, ...days.map((d) => d.total)) / unit).map((v) => Math.round(v * unit));
  const users = niceTicks(Math.max(0, ...days.map((d) => d.activeUsers)));
  const moneyTop = money.at(-1) as number;
  const usersTop = users.at(-1) as number;
  const slot = plotW / Math.max(1, days.length);
  const x = (i: number) => PAD.left + slot * i + slot / 2;
  const yMoney = (v: number) => PAD.top + plotH - (plotH * v) / moneyTop;
  const yUsers = (v: number) => PAD.top + plotH - (plotH * v) / usersTop;
  const fmt = (v: number) => formatMinor(v, currency);
  const points = days.map((d, i) => `${x(i).toFixed(1)},${yUsers(d.activeUsers).toFixed(1)}`).join(' ');
  const billedTotal = days.filter((d) => d.billed).length;
  return html`<svg viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${id}-t ${id}-d" xmlns="http://www.w3.org/2000/svg">
<title id="${id}-t">Daily totals and active users</title>
<desc id="${id}-d">Bars: the total billed per day in ${currency} (${billedTotal} billed days). Line: users with activity per day.</desc>
<g font-size="12" fill="#4f5b66">
${money.map(
  (
    v,
  ) => html`<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${yMoney(v).toFixed(1)}" y2="${yMoney(v).toFixed(1)}" stroke="#e3e7eb"/>
<text x="${PAD.left - 8}" y="${(yMoney(v) + 4).toFixed(1)}" text-anchor="end">${compact.format(v / unit)}</text>`,
)}
${users.map(
  (v) =>
    html`<text x="${W - PAD.right + 8}" y="${(yUsers(v) + 4).toFixed(1)}" fill="#8a4b08">${compact.format(v)}</text>`,
)}
<text x="${PAD.left - 8}" y="${PAD.top - 18}" text-anchor="end" font-weight="600">${currency}</text>
<text x="${W - PAD.right + 8}" y="${PAD.top - 18}" font-weight="600" fill="#8a4b08">users</text>
</g>
<g>
${days.map((d, i) => {
  if (!d.billed) return null;
  const y = yMoney(d.total);
  return html`<rect x="${(x(i) - slot * 0.34).toFixed(1)}" y="${y.toFixed(1)}" width="${(slot * 0.68).toFixed(1)}" height="${(PAD.top + plotH - y).toFixed(1)}" fill="#3d7cc9" rx="2"><title>${d.day}: ${fmt(d.total)} ${currency}</title></rect>`;
})}
</g>
<polyline points="${points}" fill="none" stroke="#c0620f" stroke-width="2.5" stroke-linejoin="round"/>
<g fill="#c0620f">
${days.map(
  (d, i) =>
    html`<circle cx="${x(i).toFixed(1)}" cy="${yUsers(d.activeUsers).toFixed(1)}" r="3.5"><title>${d.day}: ${d.activeUsers} active users</title></circle>`,
)}
</g>
<g font-size="12" fill="#4f5b66" text-anchor="middle">
${days.map((d, i) =>
  i % 2 === 0 || days.length <= 16
    ? html`<text x="${x(i).toFixed(1)}" y="${H - PAD.bottom + 18}">${Number(d.day.slice(8))}</text>`
    : null,
)}
</g>
<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${PAD.top + plotH}" y2="${PAD.top + plotH}" stroke="#8a96a3"/>
<g font-size="12.5">
<rect x="${PAD.left}" y="${H - 14}" width="12" height="10" fill="#3d7cc9"/><text x="${PAD.left + 18}" y="${H - 5}" fill="#1b1f24">daily total (${currency})</text>
<line x1="${PAD.left + 170}" x2="${PAD.left + 190}" y1="${H - 9}" y2="${H - 9}" stroke="#c0620f" stroke-width="2.5"/><text x="${PAD.left + 196}" y="${H - 5}" fill="#1b1f24">active users</text>
</g>
</svg>`;
}
