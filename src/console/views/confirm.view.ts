import { CSRF_FIELD } from '../csrf.ts';
import { type Html, html } from '../html.ts';
import { page } from '../layout.ts';

export interface ConfirmInput {
  title: string;
  crumbs: Array<{ label: string; href?: string }>;
  /** What will happen, in words. */
  explanation: Html;
  /** Reasons it would be refused now (shown, the button still posts: the server decides). */
  refusals?: readonly string[];
  action: string;
  csrf: string;
  button: string;
  cancelHref: string;
}

/** The confirmation step of an action: a POST form carrying the CSRF token and `confirm=yes`. */
export function confirmView(c: ConfirmInput): Html {
  const body = html`<div class="card">${c.explanation}
${c.refusals && c.refusals.length > 0 && html`<div class="notice bad"><strong>This will be refused now:</strong><ul class="reasons">${c.refusals.map((r) => html`<li>${r}</li>`)}</ul></div>`}
<form method="post" action="${c.action}" class="inline">
<input type="hidden" name="${CSRF_FIELD}" value="${c.csrf}">
<input type="hidden" name="confirm" value="yes">
<button type="submit" class="danger">${c.button}</button>
<a class="button secondary" href="${c.cancelHref}">Cancel</a>
</form></div>`;
  return page({ title: c.title, crumbs: c.crumbs, body });
}
