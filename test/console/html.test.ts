import { describe, expect, it } from 'vitest';
import { escapeHtml, html, raw } from '../../src/console/html.ts';
import { dailyChart, niceTicks } from '../../src/console/svg-chart.ts';
import { money } from '../../src/console/views/format.ts';

describe('the html template tag', () => {
  it.each([
    ['<img src=x onerror=alert(1)>', '&lt;img src=x onerror=alert(1)&gt;'],
    ['"><script>alert(1)</script>', '&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;'],
    ["=cmd|' /C calc'!A0", '=cmd|&#39; /C calc&#39;!A0'],
    ['a & b `x`', 'a &amp; b &#96;x&#96;'],
  ])('escapes %s in text and attributes', (input, escaped) => {
    expect(escapeHtml(input)).toBe(escaped);
    expect(html`<td title="${input}">${input}</td>`.value).toBe(`<td title="${escaped}">${escaped}</td>`);
  });

  it('keeps nested templates and raw markup, joins arrays, drops null, undefined and booleans', () => {
    const rows = ['<a>', 'b'].map((x) => html`<li>${x}</li>`);
    expect(html`<ul>${rows}</ul>${null}${undefined}${false}${true}${raw('<br>')}${0}`.value).toBe(
      '<ul><li>&lt;a&gt;</li><li>b</li></ul><br>0',
    );
  });
});

describe('figures on the pages', () => {
  it('draws ticks at round values', () => {
    expect(niceTicks(0)).toEqual([0, 1, 2, 3, 4]);
    expect(niceTicks(75.53)).toEqual([0, 20, 40, 60, 80]);
    expect(niceTicks(1_000_001)).toEqual([0, 500_000, 1_000_000, 1_500_000, 2_000_000]);
  });

  it('formats minor units with separators', () => {
    expect(money(123456789, 'EUR')).toBe('1,234,567.89');
    expect(money(-32, 'EUR')).toBe('-0.32');
    expect(money(1234567, 'JPY')).toBe('1,234,567');
  });

  it('draws one bar per billed day and one point per day, with the amounts as tooltips', () => {
    const svg = dailyChart(
      [
        { day: '2026-10-01', total: 5935, activeUsers: 36, billed: true },
        { day: '2026-10-02', total: 0, activeUsers: 0, billed: false },
      ],
      'EUR',
    ).value;
    expect(svg.match(/<rect [^>]*><title>/g)?.length).toBe(1);
    expect(svg.match(/<circle /g)?.length).toBe(2);
    expect(svg).toContain('<title>2026-10-01: 59.35 EUR</title>');
  });
});
