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
  /** When the last read finished; +Infinity while a read is in flight (never stale then). */
  #readAt = 0;
  #night: Promise<Map<string, KnownTenant>> | undefined;

  constructor(
    private readonly db: Db,
    private readonly maxAgeMs = 30_000,
  ) {}

  async known(now: string, tenantId: string): Promise<KnownTenant | undefined> {
    // The age counts from the END of the read: a read slower than maxAgeMs (10,000 tenants on a
    // saturated machine) must not make every following job start another one.
    const stale = performance.now() - this.#readAt > this.maxAgeMs;
    if (this.#now !== now || this.#night === undefined || stale) {
      this.#now = now;
      this.#readAt = Number.POSITIVE_INFINITY;
      const night = listTenants(this.db).then((tenants) => loadNight(this.db, tenants));
      this.#night = night;
      night.then(
        () => {
          if (this.#night === night) this.#readAt = performance.now();
        },
        // A failed read is not kept: the next job reads again.
        () => {
          if (this.#night === night) {
            this.#night = undefined;
            this.#readAt = 0;
          }
        },
      );
    }
    return (await this.#night).get(tenantId);
  }
}
