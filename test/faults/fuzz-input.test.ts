import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.ts';
import { type BatchResponse, useServeStack } from './support/stack.ts';

/** Anything a broken producer might send as one event: valid events mixed with every kind of garbage. */
const eventArb = (tenantId: string) =>
  fc.oneof(
    fc.record({
      eventId: fc.string({ minLength: 1, maxLength: 30 }),
      tenantId: fc.constantFrom(tenantId, tenantId, 'other', ''),
      userId: fc.string({ minLength: 0, maxLength: 30 }),
      occurredAt: fc.oneof(
        fc
          .date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true })
          .map((d) => d.toISOString()),
        fc.constantFrom(
          '2026-11-20T08:00:00+01:00',
          '2026-11-20 08:00',
          'yesterday',
          '',
          '2026-13-40T99:00:00Z',
        ),
      ),
    }),
    fc.record(
      { eventId: fc.anything(), tenantId: fc.anything(), userId: fc.anything(), occurredAt: fc.anything() },
      { requiredKeys: [] },
    ),
    fc.anything(),
  );

describe('fuzzed bad input', () => {
  const ctx = useServeStack();
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-fuzz-'));

  it('HTTP: the server never crashes and accepted + duplicates + rejected = sent for every batch', async () => {
    let batches = 0;
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb('acme'), { minLength: 0, maxLength: 40 }), async (events) => {
        const res = await fetch(`${ctx.serve.base}/v1/login-events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
          body: JSON.stringify({ events }),
        });
        expect(res.status).toBe(200);
        const body = (await res.json()) as BatchResponse;
        expect(body.accepted + body.duplicates + body.rejected.length).toBe(events.length);
        batches += 1;
        sent += events.length;
      }),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (raw) => {
        const res = await fetch(`${ctx.serve.base}/v1/login-events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
          body: raw,
        });
        expect([200, 400]).toContain(res.status);
        await res.arrayBuffer();
      }),
      { numRuns: 100 },
    );
    console.log(`[fault] HTTP fuzz: ${batches} batches, ${sent} events judged, server alive`);
    expect((await fetch(`${ctx.serve.base}/healthz`)).status).toBe(200);
    expect(ctx.serve.child.exitCode).toBeNull();
  });

  it('file import: every non-blank line is counted exactly once as accepted, duplicate or rejected', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            eventArb('acme').map((e) => JSON.stringify(e) ?? 'undefined'),
            fc.string({ maxLength: 50 }),
          ),
          {
            minLength: 1,
            maxLength: 60,
          },
        ),
        async (lines) => {
          const flat = lines.map((l) => l.replace(/[\r\n]/g, ' '));
          const file = path.join(dir, `f-${Math.random().toString(36).slice(2)}.ndjson`);
          writeFileSync(file, `${flat.join('\n')}\n`);
          const r = await runCli(['ingest', file, '--json'], { env: ctx.stack.env });
          expect([0, 2]).toContain(r.code);
          const counts = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
          const nonBlank = flat.filter((l) => l.trim() !== '').length;
          expect(counts.accepted + counts.duplicates + counts.rejected).toBe(nonBlank);
        },
      ),
      { numRuns: 12 },
    );
  });
});
