import { describe, expect, it } from 'vitest';
import { countRows, INGEST_LOAD, makeEvents, postUntilAcknowledged, useServeStack } from './support/stack.ts';

const DURATION_MS = 60_000;

describe('sustained HTTP ingest for 60 seconds', () => {
  const ctx = useServeStack();

  it('loses nothing and keeps memory flat', async () => {
    const samples: number[] = [];
    const started = Date.now();
    let next = 0;
    let acknowledged = 0;
    const sampler = setInterval(() => samples.push(ctx.serve.rssMb()), 1000);
    const client = async () => {
      while (Date.now() - started < DURATION_MS) {
        const batch = next++;
        const { response } = await postUntilAcknowledged(
          ctx.serve.base,
          ctx.key,
          makeEvents('acme', batch, INGEST_LOAD.batchSize, 100_000),
        );
        acknowledged += response.accepted + response.duplicates;
      }
    };
    await Promise.all(Array.from({ length: INGEST_LOAD.clients }, client));
    clearInterval(sampler);
    const seconds = (Date.now() - started) / 1000;
    const rows = await countRows(ctx.stack.db);
    const third = Math.floor(samples.length / 3);
    const early = Math.max(...samples.slice(third, 2 * third));
    const late = Math.max(...samples.slice(2 * third));
    console.log(
      `[fault] sustained ingest: ${next} batches, ${acknowledged} events acknowledged in ${seconds.toFixed(1)} s (${Math.round(acknowledged / seconds)} ev/s); stored ${rows.events}, activity ${rows.logins}; serve RSS max ${early.toFixed(0)} MB (middle third) -> ${late.toFixed(0)} MB (last third)`,
    );
    expect(rows.events).toBe(next * INGEST_LOAD.batchSize);
    expect(rows.logins).toBe(next * INGEST_LOAD.batchSize);
    expect(acknowledged).toBe(next * INGEST_LOAD.batchSize);
    // Flat: the last third of the run needs no more than 25% (+32 MB of slack) above the middle third.
    expect(late).toBeLessThanOrEqual(early * 1.25 + 32);
  });
});
