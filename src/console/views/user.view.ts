import { monthOf } from '../../domain/calendar.ts';
import type { ExplainedDay } from '../../insight/explain.service.ts';
import { type Html, html } from '../html.ts';
import { badge, page } from '../layout.ts';
import type { UserPage } from '../user.service.ts';
import { enc, money } from './format.ts';

function dayDetail(d: ExplainedDay, currency: string): Html {
  return html`<div class="grid2" style="margin-top:8px">
<div><h3>Settings versions in force</h3>
${
  d.versions.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<table><thead><tr><th scope="col">Effective at</th><th scope="col">Active</th><th scope="col">License</th><th scope="col">Billing</th><th scope="col">Recording</th></tr></thead><tbody>
${d.versions.map(
  (
    v,
  ) => html`<tr><td>${v.effectiveAt}${v.chosen ? html` ${badge('current', 'chosen')}` : ''}</td><td>${v.active ? 'yes' : 'no'}</td><td>${v.license}</td><td>${v.billing}</td><td>${v.recordCalls ? 'yes' : 'no'}</td></tr>
<tr><td colspan="5"><pre aria-label="settings">${JSON.stringify(v.settings, null, 1)}</pre></td></tr>`,
)}
</tbody></table>`
}
${d.reasons.length > 0 && html`<h3>Why this license</h3><ul class="reasons">${d.reasons.map((r) => html`<li>${r}</li>`)}</ul>`}
${d.billingWhy && html`<p><strong>Billing:</strong> ${d.billingWhy}</p>`}
${d.recordingWhy && html`<p><strong>Recording:</strong> ${d.recordingWhy}</p>`}
</div>
<div><h3>Activity</h3>
${
  d.activity === null
    ? html`<p class="muted">No login that day.</p>`
    : html`<p>${d.activity.loginCount} login(s), first ${d.activity.firstLoginAt}, last ${d.activity.lastLoginAt}</p>
<table><thead><tr><th scope="col">Event</th><th scope="col">Occurred</th><th scope="col">Source</th></tr></thead><tbody>
${d.activity.events.map((e) => html`<tr><td class="mono">${e.eventId}</td><td>${e.occurredAt}</td><td>${e.source}</td></tr>`)}</tbody></table>`
}
<h3>Price</h3>
<p>${d.priceBook ? html`price book ${d.priceBook.id} valid from ${d.priceBook.validFrom}` : 'no price book in force'}</p>
${d.lines.map((l) => html`<p><span class="mono">${l.item}</span> (${l.billing}): ${money(l.amount, currency)} ${currency} — ${l.explanation}</p>`)}
</div></div>`;
}

/** `/console/tenants/:t/users/:u?day=D|month=M`: the explain view (`billing explain`). */
export function userView(v: UserPage): Html {
  const base = `/console/tenants/${enc(v.tenantId)}/users/${enc(v.userId)}`;
  const month = 'day' in v.scope ? monthOf(v.scope.day) : v.scope.month;
  const e = v.explanation;
  const cur = e?.currency ?? '';
  const single = 'day' in v.scope;
  const body = html`
<form class="inline" method="get" action="${base}">
<label>Day<input type="date" name="day" value="${'day' in v.scope ? v.scope.day : ''}"></label>
<button type="submit">Explain the day</button></form>
<form class="inline" method="get" action="${base}">
<label>Month<input name="month" value="${month}" pattern="[0-9]{4}-[0-9]{2}" placeholder="YYYY-MM"></label>
<button type="submit" class="secondary">Explain the month</button></form>
${v.error && html`<div class="notice bad" role="alert">${v.error}</div>`}
${
  e &&
  html`<div class="kpis"><div class="kpi"><div class="v">${money(e.total, cur)} <span class="muted" style="font-size:14px">${cur}</span></div><div class="l">charges of the ${single ? 'day' : 'days shown'}</div></div>
<div class="kpi"><div class="v">${e.days.filter((d) => d.lines.length > 0).length} / ${e.days.length}</div><div class="l">days with a line</div></div></div>
<div class="days">
${e.days.map(
  (d) => html`<details class="dayrow"${single || d.lines.length > 0 ? html` open` : ''}>
<summary><span class="d">${d.day}</span><span>${d.license ?? '—'} · ${d.billing ?? '—'}${d.recording ? ' + recording' : ''}</span>
<span class="l">${d.lines.length === 0 ? html`<span class="muted">${d.notBilled ?? 'no line'}</span>` : d.lines.map((l) => html`<span class="mono">${l.item}</span> ${money(l.amount, cur)} `)}</span>
<span class="r">${d.dryRun ? badge('pending', 'dry run') : d.run ? html`run ${d.run.id} (${d.run.trigger})` : '—'}${d.stale ? html` ${badge('stale')}` : ''}</span></summary>
<p><a href="/console/tenants/${enc(v.tenantId)}/days/${d.day}">Open ${d.day}</a></p>
${dayDetail(d, cur)}</details>`,
)}
</div>
${
  e.adjustments.length > 0 &&
  html`<h2>Adjustments</h2><table><thead><tr><th scope="col">Day corrected</th><th scope="col">Invoiced in</th><th scope="col">Item</th><th scope="col" class="num">Amount</th></tr></thead><tbody>
${e.adjustments.map((a) => html`<tr><td>${a.day}</td><td>${a.period}</td><td class="mono">${a.item}</td><td class="num">${money(a.amount, cur)}</td></tr>`)}</tbody></table>`
}`
}`;
  return page({
    title: `User ${v.userId}`,
    crumbs: [
      { label: 'Overview', href: '/console' },
      { label: `${v.tenantId} ${month}`, href: `/console/tenants/${enc(v.tenantId)}/months/${month}` },
      { label: single ? (v.scope as { day: string }).day : month },
    ],
    body,
  });
}
