/**
 * HTML as tagged template literals: every interpolated value is escaped unless it is already
 * `Html` (the result of another `html` template or of `raw`). Arrays are joined, and `null`,
 * `undefined` and `false` render as nothing, so `${cond && html`…`}` and `${rows.map(…)}` read
 * naturally. User-supplied text (user ids, names, reject payloads) can only reach a page through
 * `escapeHtml`, so `<img src=x onerror=…>` or `=cmd|…` is shown as text, never run as markup.
 */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = Html | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for an element body or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ENTITIES[c] as string);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false || value === true) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** The template tag: static parts are trusted markup, interpolations are escaped. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] as string;
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] as string);
  });
  return new Html(out);
}

/** Markup produced here (never from input): an SVG drawn from numbers, a constant. */
export function raw(markup: string): Html {
  return new Html(markup);
}
