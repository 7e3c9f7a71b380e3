import { type KnownTenant, loadNight } from '../src/billing/night-context.ts';
import type { Db } from '../src/db/database.ts';
import { listTenants } from '../src/db/repositories/tenant.repository.ts';

/**
 * The tenants, first days and price books of one night (`loadNight`), read once per planning
 * instant by a worker instead of three queries per bill-day job. Keyed by the payload's `now`:
 * all jobs of one plan share it, and the next plan reads afresh. Read again after `maxAgeMs`
 * too, so that a price book loaded while a long backlog is worked through is used as soon as
 * it would have been by a job reading it itself a moment earlier. A tenant the cache does not
 * know (added after it was read) is read by billDay itself.
 */
export class NightCache {
  #now: string | undefined;
  #readAt = 0;
  #night: Promise<Map<string, KnownTenant>> | undefined;

  constructor(
    private readonly db: Db,
    private readonly maxAgeMs = 30_000,
  ) {}

  async known(now: string, tenantId: string): Promise<KnownTenant | undefined> {
    const stale = performance.now() - this.#readAt > this.maxAgeMs;
    if (this.#now !== now || this.#night === undefined || stale) {
      this.#now = now;
      this.#readAt = performance.now();
      this.#night = listTenants(this.db).then((tenants) => loadNight(this.db, tenants));
      // A failed read is not kept: the next job reads again.
      this.#night.catch(() => {
        if (this.#now === now) this.#night = undefined;
      });
    }
    return (await this.#night).get(tenantId);
  }
}
