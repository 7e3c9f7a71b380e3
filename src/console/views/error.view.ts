import { type Html, html } from '../html.ts';
import { page } from '../layout.ts';

/** A refusal or failure as a page: what went wrong, and the way back. */
export function errorView(status: number, message: string): Html {
  const title =
    status === 404
      ? 'Not found'
      : status === 403
        ? 'Refused'
        : status >= 500
          ? 'Something failed'
          : 'Bad request';
  return page({
    title,
    crumbs: [{ label: 'Overview', href: '/console' }],
    body: html`<div class="notice bad" role="alert">${message}</div><p><a href="/console">Back to the overview</a></p>`,
  });
}
