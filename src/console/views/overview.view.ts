import { type Html, html } from '../html.ts';
import { badge, page } from '../layout.ts';
import type { MonthSummary, Overview } from '../overview.service.ts';
import { count, enc, instant, money } from './format.ts';

function monthCell(tenantId: string, m: MonthSummary, currency: string): Html {
  const d = m.days;
  return html`<td><a href="/console/tenants/${enc(tenantId)}/months/${m.month}"><strong>${m.month}</strong></a>
 ${m.closedAt ? badge('closed', 'closed') : badge('open', 'open')}
<div class="muted" style="font-size:13px;margin-top:4px">
${badge('billed', `${d.billed} billed`)} ${d.stale > 0 && badge('stale', `${d.stale} stale`)}
${d.missing > 0 && badge('missing', `${d.missing} missing`)} ${d.failed > 0 && badge('failed', `${d.failed} failed`)}
${d.pending > 0 && badge('pending', `${d.pending} pending`)}
${m.anomalyDays > 0 && html`<span class="neg"> · ${m.anomalyDays} day(s) with anomalies</span>`}
</div></td>
<td class="num">${money(m.total, currency)} <span class="muted">${currency}</span></td>`;
}

/** `/console`: every tenant's current and previous month at a glance. */
export function overviewView(o: Overview, now: Date): Html {
  const body = html`
<p class="muted">As of ${instant(now)}. Day counts run from the tenant's first day to today in its time zone; totals include the adjustments invoiced in the month.</p>
${
  o.rows.length === 0
    ? html`<div class="notice">No tenants yet: <code>billing tenants add</code> creates one.</div>`
    : html`<table>
<caption class="muted" style="text-align:left;padding:0 0 6px">Tenants (${o.rows.length})</caption>
<thead><tr><th scope="col">Tenant</th><th scope="col">Current month</th><th scope="col" class="num">Total so far</th>
<th scope="col">Previous month</th><th scope="col" class="num">Total</th><th scope="col" class="num">Open rejects</th><th scope="col" class="num">Billing lag</th></tr></thead>
<tbody>
${o.rows.map(
  (r) => html`<tr>
<th scope="row"><span class="mono">${r.tenant.id}</span><div class="muted" style="font-weight:400">${r.tenant.name} · ${r.tenant.timezone} · ${r.tenant.currency}</div></th>
${monthCell(r.tenant.id, r.current, r.tenant.currency)}
${monthCell(r.tenant.id, r.previous, r.tenant.currency)}
<td class="num">${r.openRejects > 0 ? html`<a href="/console/rejects?tenant=${enc(r.tenant.id)}">${count(r.openRejects)}</a>` : '0'}</td>
<td class="num">${r.lagDays === 0 ? badge('billed', 'up to date') : badge(r.lagDays > 1 ? 'missing' : 'stale', `${r.lagDays} day(s)`)}</td>
</tr>`,
)}
</tbody></table>`
}
${
  o.openRejectsWithoutTenant > 0 &&
  html`<p><a href="/console/rejects">${count(o.openRejectsWithoutTenant)} open reject(s)</a> name no tenant.</p>`
}`;
  return page({ title: 'Overview', body });
}
