import { ingestEvents } from '../metrics.ts';
import { type IngestContext, type IngestItem, type Outcome, ownerOf } from './event-batch.ts';

/**
 * Adds a batch's outcomes to the `ingest_events` counter, per source, tenant and outcome. Counted
 * for the tenant the reject belongs to (the key's), never for a claimed one; only existing
 * tenants become label values: a caller must not be able to mint time series.
 */
export function countOutcomes(
  items: readonly IngestItem[],
  outcomes: readonly (Outcome | undefined)[],
  ctx: IngestContext,
  zones: Map<string, string>,
): void {
  // Per tenant: [accepted, duplicate, rejected] (no key string per event).
  const counts = new Map<string, [number, number, number]>();
  const slot = { accepted: 0, duplicate: 1, rejected: 2 } as const;
  items.forEach((item, i) => {
    const tenant = ownerOf(item, ctx, zones) ?? 'unknown';
    let c = counts.get(tenant);
    if (!c) {
      c = [0, 0, 0];
      counts.set(tenant, c);
    }
    c[slot[(outcomes[i] as Outcome).kind]] += 1;
  });
  for (const [tenant, c] of counts) {
    for (const outcome of ['accepted', 'duplicate', 'rejected'] as const) {
      const n = c[slot[outcome]];
      if (n > 0) ingestEvents.inc({ source: ctx.source, tenant, outcome }, n);
    }
  }
}
