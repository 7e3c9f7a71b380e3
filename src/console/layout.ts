import { type Html, type HtmlValue, html, raw } from './html.ts';

export interface Crumb {
  label: string;
  href?: string;
}

export interface PageOptions {
  title: string;
  /** Breadcrumbs before the page itself (the overview first). */
  crumbs?: Crumb[];
  body: HtmlValue;
}

/*
 * One stylesheet, inline (the console has no asset routes and no build step). Colours meet WCAG
 * AA contrast on white; statuses are never told by colour alone (each cell also says it in words).
 */
const STYLE = raw(`
:root{--ink:#1b1f24;--muted:#4f5b66;--line:#d5dbe1;--bg:#f5f7f9;--accent:#0b5cad;--ok:#1e6b34;--okbg:#e3f4e8;
--warn:#7a4d00;--warnbg:#fdf1d8;--bad:#a1261b;--badbg:#fbe6e3;--info:#2f4f6f;--infobg:#e6eef6;--none:#5c6670;--nonebg:#eef0f2}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
a{color:var(--accent)}a:hover{text-decoration-thickness:2px}
:focus-visible{outline:3px solid #f2a900;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px 10px;z-index:2}
header.top{background:#14213d;color:#fff;padding:0 24px;display:flex;align-items:center;gap:28px;height:52px}
header.top a{color:#fff;text-decoration:none;font-weight:600}
header.top .brand{font-size:17px;letter-spacing:.2px}
header.top nav a{opacity:.9;margin-right:18px;font-weight:500}header.top nav a:hover{opacity:1;text-decoration:underline}
main{max-width:1180px;margin:0 auto;padding:20px 24px 48px}
.crumbs{font-size:13px;color:var(--muted);margin:0 0 4px}.crumbs a{color:var(--muted)}
h1{font-size:24px;margin:0 0 16px}h2{font-size:18px;margin:28px 0 10px}h3{font-size:15px;margin:16px 0 8px}
.card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 18px;margin:0 0 16px}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}@media(max-width:900px){.grid2{grid-template-columns:1fr}}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:13px;color:var(--muted);font-weight:600;background:#fafbfc}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
pre{background:#f0f2f4;border:1px solid var(--line);border-radius:6px;padding:8px 10px;white-space:pre-wrap;word-break:break-all;margin:4px 0;max-height:14em;overflow:auto}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12.5px;font-weight:600;white-space:nowrap}
.s-billed,.s-done,.s-current,.s-open{background:var(--okbg);color:var(--ok)}
.s-stale,.s-refused,.s-pending{background:var(--warnbg);color:var(--warn)}
.s-missing,.s-failed{background:var(--badbg);color:var(--bad)}
.s-closed{background:var(--infobg);color:var(--info)}
.s-future,.s-before-start,.s-superseded,.s-adjustment{background:var(--nonebg);color:var(--none)}
.cal{table-layout:fixed}.cal td{height:74px;padding:6px;border:1px solid var(--line)}
.cal a.day{display:block;height:100%;text-decoration:none;color:inherit;border-radius:4px;padding:2px 4px}
.cal a.day:hover{background:#f0f5fb}
.cal .dn{font-weight:700}.cal .meta{display:block;font-size:12px;color:var(--muted)}
.cal .anom{display:block;font-size:12px;color:var(--bad);font-weight:600}
.legend{display:flex;gap:10px;flex-wrap:wrap;margin:8px 0 0;font-size:13px}
.kpis{display:flex;gap:14px;flex-wrap:wrap;margin:0 0 16px}
.kpi{background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:150px}
.kpi .v{font-size:20px;font-weight:700;font-variant-numeric:tabular-nums}.kpi .l{font-size:12.5px;color:var(--muted)}
form.inline{display:flex;gap:10px;align-items:flex-end;flex-wrap:wrap;margin:0 0 12px}
label{display:flex;flex-direction:column;font-size:13px;color:var(--muted);gap:3px}
input,select{font:inherit;padding:5px 8px;border:1px solid #8a96a3;border-radius:5px;background:#fff;color:var(--ink);min-height:34px}
button,.button{font:inherit;font-weight:600;padding:6px 14px;border-radius:5px;border:1px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;min-height:34px;text-decoration:none;display:inline-block}
button.secondary,.button.secondary{background:#fff;color:var(--accent)}
button.danger{background:var(--bad);border-color:var(--bad)}
.notice{border-left:4px solid var(--accent);background:#fff;padding:10px 14px;margin:0 0 16px;border-radius:4px}
.notice.bad{border-color:var(--bad)}.notice.ok{border-color:var(--ok)}.notice.warn{border-color:#c78400}
ul.reasons{margin:6px 0;padding-left:20px}
.muted{color:var(--muted)}.pos{color:var(--ok)}.neg{color:var(--bad)}
.chart svg{width:100%;height:auto;display:block}
.pager{display:flex;gap:12px;align-items:center;margin:10px 0}
details.dayrow{background:#fff;border:1px solid var(--line);border-radius:6px;margin:0 0 6px;padding:0 12px}
details.dayrow[open]{padding-bottom:10px}
details.dayrow summary{display:grid;grid-template-columns:110px 220px 1fr 200px;gap:10px;padding:8px 0;cursor:pointer;align-items:baseline}
details.dayrow summary .d{font-weight:600}details.dayrow summary .r{text-align:right;color:var(--muted)}
.grid2 + .card{margin-top:24px}
footer{color:var(--muted);font-size:12.5px;text-align:center;padding:0 0 24px}
`);

/** The whole document: language, title, skip link, top navigation, breadcrumbs, one h1. */
export function page(options: PageOptions): Html {
  const crumbs = options.crumbs ?? [];
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · billing console</title>
<style>${STYLE}</style>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/console">billing console</a>
<nav aria-label="Sections"><a href="/console">Overview</a><a href="/console/rejects">Rejects</a></nav>
</header>
<main id="main">
${
  crumbs.length > 0 &&
  html`<nav class="crumbs" aria-label="Breadcrumb">${crumbs.map(
    (c, i) => html`${i > 0 && ' › '}${c.href ? html`<a href="${c.href}">${c.label}</a>` : c.label}`,
  )}</nav>`
}
<h1>${options.title}</h1>
${options.body}
</main>
<footer>Amounts are in the tenant's currency. Days are tenant-local.</footer>
</body>
</html>
`;
}

/** A status word in a coloured badge (the word carries the meaning; the colour only helps). */
export function badge(status: string, label: string = status): Html {
  return html`<span class="badge s-${status}">${label}</span>`;
}
