import type { AmountDiff } from '../../domain/adjustments.ts';
import { monthOf } from '../../domain/calendar.ts';
import type { DayPage, ItemDiff, ReplayPreview } from '../day.service.ts';
import { type Html, html } from '../html.ts';
import { badge, page } from '../layout.ts';
import { count, delta, enc, instant, money, query } from './format.ts';

export interface DayViewInput {
  page: DayPage;
  userPrefix?: string | undefined;
  /** The replay dry run, when asked for; or why it could not run. */
  preview?: ReplayPreview | { error: string } | undefined;
  flash?: { ok: boolean; message: string } | undefined;
  /** Queue replay is offered only when serve has a queue (REDIS_URL). */
  canQueue: boolean;
}

export function diffTable(
  rows: readonly AmountDiff[],
  currency: string,
  userHref: (u: string) => string,
): Html {
  if (rows.length === 0) return html`<p>${badge('billed', 'no change')} Every line is the same.</p>`;
  return html`<table aria-label="Differences per user"><thead><tr><th scope="col">User</th><th scope="col">Item</th><th scope="col">Billing</th>
<th scope="col" class="num">Before</th><th scope="col" class="num">After</th><th scope="col" class="num">Change</th></tr></thead><tbody>
${rows.map(
  (
    r,
  ) => html`<tr><td class="mono"><a href="${userHref(r.userId)}">${r.userId}</a></td><td class="mono">${r.item}</td><td>${r.billing}</td>
<td class="num">${money(r.before, currency)}</td><td class="num">${money(r.after, currency)}</td>
<td class="num ${r.after > r.before ? 'pos' : 'neg'}">${delta(r.after - r.before, currency)}</td></tr>`,
)}
</tbody></table>`;
}

/** Two runs' sums by item and billing mode, side by side (exact, from the per-run sums). */
function itemDiffTable(items: readonly ItemDiff[], currency: string): Html {
  if (items.length === 0) return html``;
  return html`<table aria-label="Sums by item and billing mode"><thead><tr><th scope="col">Item</th><th scope="col">Billing</th>
<th scope="col" class="num">Lines before</th><th scope="col" class="num">Lines after</th>
<th scope="col" class="num">Before</th><th scope="col" class="num">After</th><th scope="col" class="num">Change</th></tr></thead><tbody>
${items.map(
  (i) => html`<tr><td class="mono">${i.item}</td><td>${i.billing}</td>
<td class="num">${count(i.before.lines)}</td><td class="num">${count(i.after.lines)}</td>
<td class="num">${money(i.before.amount, currency)}</td><td class="num">${money(i.after.amount, currency)}</td>
<td class="num ${i.after.amount > i.before.amount ? 'pos' : i.after.amount < i.before.amount ? 'neg' : ''}">${delta(i.after.amount - i.before.amount, currency)}</td></tr>`,
)}
</tbody></table>`;
}

function previewSection(v: DayViewInput, currency: string, userHref: (u: string) => string): Html {
  const p = v.preview;
  if (p === undefined) return html``;
  if ('error' in p)
    return html`<div class="notice bad" role="status">Replay dry run refused: ${p.error}</div>`;
  if (p.status === 'skipped')
    return html`<div class="notice" role="status">Replay dry run: ${p.reason}.</div>`;
  const t = p.diff.totals;
  return html`<div class="card" role="status" aria-labelledby="preview-h"><h3 id="preview-h" style="margin-top:0">Replay dry run: what a replay would change now (nothing was written)</h3>
<p>Before ${money(t.before, currency)} ${currency} → after ${money(t.after, currency)} ${currency}:
<strong class="${t.delta > 0 ? 'pos' : t.delta < 0 ? 'neg' : ''}">${delta(t.delta, currency)} ${currency}</strong>
${p.closedPeriod && html` · ${badge('closed', 'closed period')} a replay would write adjustment lines into the next open month`}</p>
${diffTable(p.diff.rows, currency, userHref)}
${p.truncated && html`<p class="muted">Only the first ${count(p.diff.rows.length)} changes are shown; the totals cover every line.</p>`}
</div>`;
}

/** `/console/tenants/:t/days/:d`. */
export function dayView(v: DayViewInput): Html {
  const d = v.page;
  const cur = d.tenant.currency;
  const base = `/console/tenants/${enc(d.tenant.id)}/days/${d.day}`;
  const userHref = (u: string) => `/console/tenants/${enc(d.tenant.id)}/users/${enc(u)}?day=${d.day}`;
  const charge = d.runs.filter((r) => r.kind === 'charge');
  const current = charge.find((r) => r.isCurrent);
  const maxRead = Math.max(0, ...d.runs.map((r) => r.inputRevision));
  const stale = d.runs.length > 0 && d.revision > maxRead;
  const defaultFrom = d.diff?.from.id ?? charge.at(-2)?.id;
  const defaultTo = d.diff?.to.id ?? charge.at(-1)?.id;
  const runSelect = (name: string, label: string, selected: string | undefined) =>
    html`<label>${label}<select name="${name}">${charge.map(
      (r) =>
        html`<option value="${r.id}"${r.id === selected ? html` selected` : ''}>run ${r.id} · ${r.trigger}${r.isCurrent ? ' · current' : ''}</option>`,
    )}</select></label>`;
  const body = html`
${v.flash && html`<div class="notice ${v.flash.ok ? 'ok' : 'bad'}" role="status">${v.flash.message}</div>`}
<p><a href="/console/tenants/${enc(d.tenant.id)}/months/${monthOf(d.day)}">← ${monthOf(d.day)}</a></p>
<div class="kpis">
<div class="kpi"><div class="v">${current ? money(current.total, cur) : '—'} <span class="muted" style="font-size:14px">${cur}</span></div><div class="l">current total</div></div>
<div class="kpi"><div class="v">${current ? count(current.lineCount) : '0'}</div><div class="l">current lines</div></div>
<div class="kpi"><div class="v">${d.runs.length}</div><div class="l">runs</div></div>
<div class="kpi"><div class="v">${d.revision}</div><div class="l">input revision ${stale ? badge('stale', 'ahead of the runs') : ''}</div></div>
</div>

<section aria-labelledby="runs-h"><h2 id="runs-h">Runs</h2>
${
  d.runs.length === 0
    ? html`<p class="muted">This day has no run yet.</p>`
    : html`<table><thead><tr><th scope="col">Run</th><th scope="col">Kind</th><th scope="col">Trigger</th><th scope="col" class="num">Input revision</th>
<th scope="col">Finished</th><th scope="col" class="num">Lines</th><th scope="col" class="num">Total (${cur})</th><th scope="col">State</th></tr></thead><tbody>
${d.runs.map(
  (
    r,
  ) => html`<tr><td class="mono"><a href="${base}${query({ run: r.id })}#lines-h">${r.id}</a></td><td>${r.kind}</td><td>${r.trigger}</td>
<td class="num">${r.inputRevision}</td><td>${instant(r.finishedAt)}</td><td class="num">${count(r.lineCount)}</td><td class="num">${money(r.total, cur)}</td>
<td>${r.kind === 'adjustment' ? badge('adjustment') : r.isCurrent ? badge('current') : html`${badge('superseded')}${r.supersededAt && html` <span class="muted">${instant(r.supersededAt)}</span>`}`}</td></tr>`,
)}
</tbody></table>`
}
</section>

${
  charge.length >= 2 &&
  html`<section aria-labelledby="diff-h"><h2 id="diff-h">Difference between two runs</h2>
<form class="inline" method="get" action="${base}#diff-h">${runSelect('from', 'Before', defaultFrom)}${runSelect('to', 'After', defaultTo)}<button type="submit">Show difference</button></form>
${
  d.diff &&
  html`<p>Run ${d.diff.from.id} → run ${d.diff.to.id}: ${money(d.diff.from.total, cur)} → ${money(d.diff.to.total, cur)} ${cur}
(<strong>${delta(d.diff.to.total - d.diff.from.total, cur)} ${cur}</strong>)</p>
${itemDiffTable(d.diff.items, cur)}
<h3>Per user${d.diff.after ? html` after ${d.diff.after.userId}` : ''}</h3>
${diffTable(d.diff.rows, cur, userHref)}
<div class="pager">${
    d.diff.next
      ? html`<a class="button secondary" href="${base}${query({ from: d.diff.from.id, to: d.diff.to.id, diffAfterUser: d.diff.next.userId, diffAfterItem: d.diff.next.item })}#diff-h">Next differences after ${d.diff.next.userId} →</a>`
      : html`<span class="muted">End of the differences.</span>`
  } ${d.diff.after && html`<a href="${base}${query({ from: d.diff.from.id, to: d.diff.to.id })}#diff-h">First page</a>`}</div>`
}
</section>`
}

<section aria-labelledby="replay-h"><h2 id="replay-h">Replay</h2>
<p class="muted">A dry run computes the day from the data as it is now and compares it with the current run; nothing is written. Queue replay hands the day to the workers, who write a new run (or adjustment lines for a closed month).</p>
<form class="inline" method="get" action="${base}#replay-h"><input type="hidden" name="preview" value="1"><button type="submit">Run a replay dry run</button>
${
  v.canQueue
    ? html`<a class="button secondary" href="${base}/queue-replay">Queue replay…</a>`
    : html`<span class="muted">Queue replay needs serve to run with REDIS_URL.</span>`
}</form>
${previewSection(v, cur, userHref)}
</section>

<section aria-labelledby="lines-h"><h2 id="lines-h">Lines${d.linesRun ? html` of run ${d.linesRun.id}${d.linesRun.isCurrent ? ' (current)' : ''}` : ''}</h2>
${
  d.linesRun === null
    ? html`<p class="muted">No lines: the day has no run.</p>`
    : html`<form class="inline" method="get" action="${base}#lines-h" role="search">
<input type="hidden" name="run" value="${d.linesRun.id}">
<label>User id starts with<input name="user" value="${v.userPrefix ?? ''}" autocomplete="off"></label><button type="submit">Search</button>
${v.userPrefix && html`<a href="${base}${query({ run: d.linesRun.id })}#lines-h">Clear</a>`}</form>
${
  d.lines.length === 0
    ? html`<p class="muted">No lines${v.userPrefix ? html` for users starting with “${v.userPrefix}”` : ''}.</p>`
    : html`<table><thead><tr><th scope="col">User</th><th scope="col">Item</th><th scope="col">Billing</th><th scope="col" class="num">Unit price</th><th scope="col" class="num">Amount (${cur})</th></tr></thead><tbody>
${d.lines.map(
  (
    l,
  ) => html`<tr><td class="mono"><a href="${userHref(l.userId)}">${l.userId}</a></td><td class="mono">${l.item}</td><td>${l.billing}</td>
<td class="num">${money(l.unitPrice, cur)}</td><td class="num">${money(l.amount, cur)}</td></tr>`,
)}
</tbody></table>`
}
<div class="pager">${
        d.next
          ? html`<a class="button secondary" href="${base}${query({ run: d.linesRun.id, user: v.userPrefix, afterUser: d.next.userId, afterItem: d.next.item })}#lines-h">Next ${count(d.lines.length)} lines →</a>`
          : html`<span class="muted">End of the lines.</span>`
      } <a href="${base}${query({ run: d.linesRun.id, user: v.userPrefix })}#lines-h">First page</a></div>`
}
</section>`;
  return page({
    title: `${d.tenant.name} — ${d.day}`,
    crumbs: [
      { label: 'Overview', href: '/console' },
      {
        label: `${d.tenant.id} ${monthOf(d.day)}`,
        href: `/console/tenants/${enc(d.tenant.id)}/months/${monthOf(d.day)}`,
      },
      { label: d.day },
    ],
    body,
  });
}
