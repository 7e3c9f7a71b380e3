import type { Kysely } from 'kysely';
import { type KnownTenant, loadNight } from '../src/billing/night-context.ts';
import type { Database } from '../src/db/database.ts';
import { listTenants } from '../src/db/repositories/tenant.repository.ts';

/**
 * The tenants, first days and price books of one night (`loadNight`), read once per planning
 * instant by a worker instead of three queries per bill-day job. Keyed by the payload's `now`:
 * all jobs of one plan share it, and the next plan reads afresh. A tenant the cache does not
 * know (added after it was read) is read by billDay itself.
 */
export class NightCache {
  #now: string | undefined;
  #night: Promise<Map<string, KnownTenant>> | undefined;

  constructor(private readonly db: Kysely<Database>) {}

  async known(now: string, tenantId: string): Promise<KnownTenant | undefined> {
    if (this.#now !== now || this.#night === undefined) {
      this.#now = now;
      this.#night = listTenants(this.db).then((tenants) => loadNight(this.db, tenants));
      // A failed read is not kept: the next job reads again.
      this.#night.catch(() => {
        if (this.#now === now) this.#night = undefined;
      });
    }
    return (await this.#night).get(tenantId);
  }
}
