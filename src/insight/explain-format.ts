import { formatMinor } from '../domain/money.ts';
import type { ChargeExplanation } from './explain.service.ts';

/** The terminal view of an explanation: one block per day, amounts in major units. */
export function formatExplanation(e: ChargeExplanation): string {
  const money = (a: number) => `${formatMinor(a, e.currency)} ${e.currency}`;
  const out: string[] = [`user ${e.userId} of tenant ${e.tenantId}`];
  for (const d of e.days) {
    const origin = d.run
      ? `run ${d.run.id} (${d.run.trigger}, input revision ${d.run.inputRevision})${d.stale ? ', STALE: input changed since' : ''}`
      : 'dry run: the day has no run yet, nothing was written';
    out.push('', `${d.day}  ${origin}`);
    for (const v of d.versions) {
      out.push(
        `  version ${v.effectiveAt}${v.chosen ? ' (chosen)' : ''}: ${v.active ? v.license : 'inactive'}, ${v.billing}${v.recordCalls ? ', records calls' : ''}`,
      );
    }
    if (d.license) {
      out.push(`  license ${d.license}: ${d.reasons.join('; ') || 'no reasons recorded with the version'}`);
      out.push(`  billing ${d.billingWhy}`);
      out.push(`  recording ${d.recordingWhy}`);
    }
    if (d.activity) {
      out.push(
        `  logins: ${d.activity.loginCount}, first ${d.activity.firstLoginAt}, last ${d.activity.lastLoginAt}`,
        ...d.activity.events.map(
          (ev) => `    ${ev.occurredAt}  ${ev.eventId}  via ${ev.source}, received ${ev.receivedAt}`,
        ),
      );
    }
    for (const l of d.lines) out.push(`  ${l.item} ${l.billing} ${money(l.amount)}: ${l.explanation}`);
    if (d.notBilled) out.push(`  no line: ${d.notBilled}`);
  }
  for (const a of e.adjustments) {
    out.push(
      `adjustment of ${a.day} invoiced in ${a.period}: ${a.item} ${a.billing} ${money(a.amount)} (run ${a.runId})`,
    );
  }
  out.push('', `total of the days shown: ${money(e.total)}`);
  return out.join('\n');
}
