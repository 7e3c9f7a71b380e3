import { type Html, html } from '../html.ts';
import { badge, page } from '../layout.ts';
import { REJECT_SOURCES, type RejectsPage } from '../reject-list.service.ts';
import { count, instant, query } from './format.ts';

export interface RejectsFilterInput {
  tenant?: string | undefined;
  source?: string | undefined;
  reason?: string | undefined;
  day?: string | undefined;
  all?: boolean;
}

/** `/console/rejects`: kept rejects, newest first, filtered; the raw payload shown as text. */
export function rejectsView(p: RejectsPage, f: RejectsFilterInput): Html {
  const filterQuery = {
    tenant: f.tenant,
    source: f.source,
    reason: f.reason,
    day: f.day,
    all: f.all ? '1' : undefined,
  };
  const body = html`
<form class="inline" method="get" action="/console/rejects" aria-label="Filter rejects">
<label>Tenant<select name="tenant"><option value="">any</option>${p.tenants.map((t) => html`<option value="${t.id}"${t.id === f.tenant ? html` selected` : ''}>${t.id}</option>`)}</select></label>
<label>Source<select name="source"><option value="">any</option>${REJECT_SOURCES.map((s) => html`<option${s === f.source ? html` selected` : ''}>${s}</option>`)}</select></label>
<label>Reason contains<input name="reason" value="${f.reason ?? ''}"></label>
<label>Received on (UTC)<input type="date" name="day" value="${f.day ?? ''}"></label>
<label style="flex-direction:row;align-items:center;gap:6px;min-height:34px"><input type="checkbox" name="all" value="1"${f.all ? html` checked` : ''}> include resolved</label>
<button type="submit">Filter</button> <a href="/console/rejects">Reset</a></form>
${
  p.rejects.length === 0
    ? html`<p class="muted">No ${f.all ? '' : 'open '}rejects match.</p>`
    : html`<table><thead><tr><th scope="col">Received</th><th scope="col">Tenant</th><th scope="col">Source</th><th scope="col">Where</th><th scope="col">Reason</th><th scope="col" style="width:38%">Raw payload</th></tr></thead><tbody>
${p.rejects.map(
  (
    r,
  ) => html`<tr><td>${instant(r.receivedAt)}${r.resolvedAt ? html`<div>${badge('billed', 'resolved')}</div>` : ''}</td>
<td class="mono">${r.tenantId ?? html`<span class="muted">none</span>`}</td><td>${r.source}</td>
<td class="mono">${r.location ?? ''}${r.eventId ? html`<div>event ${r.eventId}</div>` : ''}</td><td>${r.reason}</td>
<td><pre>${r.raw}</pre>${r.rawEncoding === 'utf8' ? '' : html`<span class="muted">not text as received: shown ${r.rawEncoding}</span> `}${r.raw.length < r.rawBytes || r.rawTruncated ? html`<span class="muted">first ${count(r.raw.length)} characters of ${count(r.rawBytes)} bytes</span>` : ''}</td></tr>`,
)}
</tbody></table>`
}
<div class="pager">${p.nextBeforeId ? html`<a class="button secondary" href="/console/rejects${query({ ...filterQuery, before: p.nextBeforeId })}">Older →</a>` : html`<span class="muted">End of the list.</span>`}
<a href="/console/rejects${query(filterQuery)}">Newest</a></div>`;
  return page({ title: 'Rejects', crumbs: [{ label: 'Overview', href: '/console' }], body });
}
