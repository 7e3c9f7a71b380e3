import { describe, expect, it } from 'vitest';
import {
  type BatchResponse,
  countRows,
  INGEST_LOAD,
  makeEvents,
  postUntilAcknowledged,
  useServeStack,
} from './support/stack.ts';

const BATCHES = 200;

describe('PostgreSQL restarted while HTTP ingest runs under load', () => {
  const ctx = useServeStack();

  it('stores every acknowledged event exactly once; retried batches end up stored once', async () => {
    const responses: BatchResponse[] = new Array(BATCHES);
    let retried = 0;
    let next = 0;
    let restarted = false;
    const restart = async () => {
      while (next < BATCHES / 3) await new Promise((r) => setTimeout(r, 20));
      await ctx.stack.postgres.restart(2000);
      restarted = true;
    };
    const client = async () => {
      while (next < BATCHES) {
        const batch = next++;
        const { response, attempts } = await postUntilAcknowledged(
          ctx.serve.base,
          ctx.key,
          makeEvents('acme', batch, INGEST_LOAD.batchSize, 5000),
        );
        responses[batch] = response;
        if (attempts > 1) retried += 1;
      }
    };
    await Promise.all([restart(), ...Array.from({ length: INGEST_LOAD.clients }, client)]);

    const sent = BATCHES * INGEST_LOAD.batchSize;
    const accepted = responses.reduce((s, r) => s + r.accepted, 0);
    const duplicates = responses.reduce((s, r) => s + r.duplicates, 0);
    const rows = await countRows(ctx.stack.db);
    console.log(
      `[fault] postgres restart during ingest: sent ${sent}, acknowledged ${accepted} accepted + ${duplicates} duplicates in ${BATCHES} batches, ${retried} batches retried; stored ${rows.events} events, activity counts ${rows.logins} logins, ${rows.rejects} rejects`,
    );
    expect(restarted).toBe(true);
    for (const r of responses) {
      expect(r.rejected).toEqual([]);
      expect(r.accepted + r.duplicates).toBe(INGEST_LOAD.batchSize);
    }
    expect(rows.events).toBe(sent);
    expect(rows.logins).toBe(sent);
    // A batch whose answer was lost comes back as duplicates; nothing is counted twice.
    expect(accepted).toBeLessThanOrEqual(sent);
    expect(accepted + duplicates).toBe(sent);
    expect(ctx.serve.child.exitCode).toBeNull();
  });
});
