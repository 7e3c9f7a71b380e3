import { DateTime } from 'luxon';
import { addDays, monthOf } from '../../domain/calendar.ts';
import { type Html, html } from '../html.ts';
import { badge, page } from '../layout.ts';
import type { CalendarDay, MonthPage } from '../month.service.ts';
import { dailyChart } from '../svg-chart.ts';
import { count, enc, instant, money } from './format.ts';

const STATUS_LABEL: Record<CalendarDay['status'], string> = {
  billed: 'billed',
  stale: 'stale',
  missing: 'missing',
  failed: 'failed',
  pending: 'pending',
  future: 'not yet',
  'before-start': 'before start',
};

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

function calendar(p: MonthPage): Html {
  const base = `/console/tenants/${enc(p.tenant.id)}/days/`;
  const lead = DateTime.fromISO(p.days[0]?.day as string).weekday - 1;
  const cells: Array<CalendarDay | null> = [...Array.from({ length: lead }, () => null), ...p.days];
  while (cells.length % 7 !== 0) cells.push(null);
  const weeks: Array<Array<CalendarDay | null>> = [];
  for (let i = 0; i < cells.length; i += 7) weeks.push(cells.slice(i, i + 7));
  const cell = (d: CalendarDay | null) => {
    if (d === null) return html`<td aria-hidden="true"></td>`;
    const label = `${d.day}: ${STATUS_LABEL[d.status]}${d.runId ? `, ${money(d.total, p.tenant.currency)} ${p.tenant.currency}` : ''}${d.anomalies.length > 0 ? `, ${d.anomalies.length} anomalies` : ''}`;
    return html`<td><a class="day" href="${base}${d.day}" aria-label="${label}">
<span class="dn">${Number(d.day.slice(8))}</span> ${badge(d.status, STATUS_LABEL[d.status])}
${d.runId && html`<span class="meta">${money(d.total, p.tenant.currency)}</span>`}
${d.status !== 'future' && d.status !== 'before-start' && html`<span class="meta">${count(d.activeUsers)} active</span>`}
${d.anomalies.length > 0 && html`<span class="anom">⚠ ${d.anomalies.map((a) => a.code).join(', ')}</span>`}
</a></td>`;
  };
  return html`<table class="cal"><caption class="muted" style="text-align:left;padding:0 0 6px">Day statuses of ${p.month}; each day opens its runs and lines</caption>
<thead><tr>${WEEKDAYS.map((w) => html`<th scope="col">${w}</th>`)}</tr></thead>
<tbody>${weeks.map((w) => html`<tr>${w.map(cell)}</tr>`)}</tbody></table>
<div class="legend"><span class="muted">Legend:</span>${badge('billed')} current run at the latest input ${badge('stale')} data arrived after the run
${badge('missing')} due, never billed ${badge('failed')} the last attempt failed ${badge('pending')} before its cut-off</div>`;
}

function closePanel(p: MonthPage): Html {
  const c = p.close;
  const href = `/console/tenants/${enc(p.tenant.id)}/months/${p.month}/close`;
  return html`<section class="card" aria-labelledby="close-h"><h2 id="close-h" style="margin-top:0">Close ${p.month}</h2>
<p class="muted">Closing makes the month's lines final: a later correction of one of its days is written as adjustment lines into the next open month. A month closes when every day from the tenant's first day to the month's last day is billable and has a current run.</p>
${
  c.closedAt
    ? html`<p>${badge('closed', 'closed')} on ${instant(c.closedAt)}.</p>`
    : c.refusals.length > 0
      ? html`<div class="notice bad"><strong>Closing is refused now:</strong><ul class="reasons">${c.refusals.map((r) => html`<li>${r}</li>`)}</ul></div>`
      : html`<p>${badge('billed', 'ready')} every day is billed.</p>`
}
${c.warnings.length > 0 && html`<div class="notice warn"><strong>Before closing:</strong><ul class="reasons">${c.warnings.map((w) => html`<li>${w}</li>`)}</ul></div>`}
${!c.closedAt && html`<a class="button${c.refusals.length > 0 ? ' secondary' : ''}" href="${href}">Close ${p.month}…</a>`}
</section>`;
}

/** `/console/tenants/:t/months/:m`. */
export function monthView(p: MonthPage, flash?: { ok: boolean; message: string }): Html {
  const cur = p.tenant.currency;
  const billed = p.days.filter((d) => d.runId !== null);
  const anomalous = p.days.filter((d) => d.anomalies.length > 0);
  const peak = Math.max(0, ...p.days.map((d) => d.activeUsers));
  const prev = monthOf(addDays(`${p.month}-01`, -1));
  const next = monthOf(addDays(`${p.month}-01`, 32));
  const base = `/console/tenants/${enc(p.tenant.id)}`;
  const body = html`
${flash && html`<div class="notice ${flash.ok ? 'ok' : 'bad'}" role="status">${flash.message}</div>`}
<p><a href="${base}/months/${prev}">← ${prev}</a> · <a href="${base}/months/${next}">${next} →</a>
 · <a href="${base}/months/${p.month}/invoice.csv" download>Download invoice.csv</a>
 · <a href="/console/rejects?tenant=${enc(p.tenant.id)}">Rejects</a></p>
<div class="kpis">
<div class="kpi"><div class="v">${money(p.total, cur)} <span class="muted" style="font-size:14px">${cur}</span></div><div class="l">invoice total so far</div></div>
<div class="kpi"><div class="v">${billed.length} / ${p.days.length}</div><div class="l">days with a current run</div></div>
<div class="kpi"><div class="v">${count(peak)}</div><div class="l">most active users on a day</div></div>
<div class="kpi"><div class="v">${p.close.closedAt ? 'closed' : 'open'}</div><div class="l">period</div></div>
<div class="kpi"><div class="v ${anomalous.length > 0 ? 'neg' : ''}">${anomalous.length}</div><div class="l">days with anomalies</div></div>
</div>
<section aria-labelledby="cal-h"><h2 id="cal-h">Calendar</h2>${calendar(p)}</section>
<section aria-labelledby="chart-h"><h2 id="chart-h">Daily totals and active users</h2>
<div class="card chart">${dailyChart(
    p.days.map((d) => ({ day: d.day, total: d.total, activeUsers: d.activeUsers, billed: d.runId !== null })),
    cur,
  )}</div></section>
<div class="grid2">
<section aria-labelledby="items-h"><h2 id="items-h">Totals by item and billing mode</h2>
${
  p.items.length === 0
    ? html`<p class="muted">Nothing billed in ${p.month} yet.</p>`
    : html`<table><thead><tr><th scope="col">Item</th><th scope="col">Billing</th><th scope="col" class="num">Lines</th><th scope="col" class="num">Amount (${cur})</th></tr></thead>
<tbody>${p.items.map((i) => html`<tr><td class="mono">${i.item}</td><td>${i.billing}</td><td class="num">${count(i.lines)}</td><td class="num">${money(i.amount, cur)}</td></tr>`)}
<tr><th scope="row" colspan="3">Total (equals the invoice CSV)</th><td class="num"><strong>${money(p.total, cur)}</strong></td></tr></tbody></table>`
}
</section>
<section aria-labelledby="anom-h"><h2 id="anom-h">Reconcile anomalies</h2>
${
  anomalous.length === 0
    ? html`<p>${badge('billed', 'none')} No anomalies in ${p.month}.</p>`
    : html`<table><thead><tr><th scope="col">Day</th><th scope="col">Anomaly</th></tr></thead><tbody>
${anomalous.map((d) => html`<tr><td><a href="${base}/days/${d.day}">${d.day}</a></td><td>${d.anomalies.map((a) => html`<div><span class="badge s-missing">${a.code}</span> ${a.message}</div>`)}</td></tr>`)}
</tbody></table>`
}
${p.unattributedRejects > 0 && html`<p class="muted">${count(p.unattributedRejects)} reject(s) received in ${p.month} cannot be attributed to a tenant-day.</p>`}
</section>
</div>
${closePanel(p)}
<section aria-labelledby="audit-h"><h2 id="audit-h">Console actions on ${p.month}</h2>
${
  p.audit.length === 0
    ? html`<p class="muted">None yet.</p>`
    : html`<table><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">On</th><th scope="col">Outcome</th><th scope="col">Detail</th></tr></thead><tbody>
${p.audit.map((a) => html`<tr><td>${instant(a.at)}</td><td>${a.actor}</td><td>${a.action}</td><td>${a.subject}</td><td>${badge(a.outcome)}</td><td>${a.detail}</td></tr>`)}
</tbody></table>`
}
</section>`;
  return page({
    title: `${p.tenant.name} — ${p.month}`,
    crumbs: [{ label: 'Overview', href: '/console' }, { label: p.tenant.id }],
    body,
  });
}
