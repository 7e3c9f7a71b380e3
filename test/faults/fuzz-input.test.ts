import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCleanText } from '../../src/domain/text.ts';
import type { FileImportResult } from '../../src/ingest/event-file-import.ts';
import { lastJsonLine, runCli } from '../support/cli.ts';
import { type BatchResponse, ingestOf, seedTenant, useServeStack } from './support/stack.ts';

/** JSON text sent as is inside a batch (a depth bomb is built as text: JSON.stringify would overflow). */
class RawJson {
  constructor(readonly text: string) {}
}

/** The hostile values of issue 14, each one a reject that names its field. */
const nul = fc.string({ maxLength: 8 }).map((s) => `${s}\u0000${s}`);
const loneSurrogate = fc
  .tuple(fc.string({ maxLength: 8 }), fc.integer({ min: 0xd800, max: 0xdfff }))
  .map(([s, c]) => `${s}${String.fromCharCode(c)}`);
const hostileString = fc.oneof(nul, loneSurrogate, fc.string({ unit: 'binary', maxLength: 10 }));
const ancient = fc
  .date({
    min: new Date('0000-01-01T00:00:00Z'),
    max: new Date('1999-12-31T23:59:59.999Z'),
    noInvalidDate: true,
  })
  .map((d) => d.toISOString())
  .filter((s) => /^\d{4}-/.test(s)); // four-digit years: the RFC 3339 shape, so only the date is wrong
const tooLong = fc.integer({ min: 201, max: 5000 }).map((n) => 'x'.repeat(n));
const depthBomb = fc
  .integer({ min: 1_000, max: 100_000 })
  .map((d) => new RawJson(`${'['.repeat(d)}${']'.repeat(d)}`));

/** A valid event of `tenantId` with a unique id: it must be stored whatever surrounds it. */
const goodEvent = (tenantId: string) =>
  fc.record({
    eventId: fc.uuid().map((u) => `good-${u}`),
    tenantId: fc.constant(tenantId),
    userId: fc.string({ minLength: 1, maxLength: 30 }).filter(isCleanText),
    occurredAt: fc
      .date({ min: new Date('2020-01-01'), max: new Date('2026-01-01'), noInvalidDate: true })
      .map((d) => d.toISOString()),
  });

/** One hostile event: a good one with one field made hostile, a depth bomb, or another tenant claimed. */
const hostileEvent = (tenantId: string, otherTenant: string) =>
  fc.oneof(
    fc
      .tuple(
        goodEvent(tenantId),
        fc.constantFrom('eventId', 'userId', 'tenantId'),
        fc.oneof(hostileString, tooLong),
      )
      .map(([e, field, v]) => ({ ...e, [field]: v })),
    fc.tuple(goodEvent(tenantId), ancient).map(([e, occurredAt]) => ({ ...e, occurredAt })),
    goodEvent(otherTenant),
    depthBomb,
  );

/** Anything a broken producer might send as one event: valid events mixed with every kind of garbage. */
const eventArb = (tenantId: string, otherTenant = 'beta') =>
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
    hostileEvent(tenantId, otherTenant),
    goodEvent(tenantId),
  );

const textOf = (e: unknown) => (e instanceof RawJson ? e.text : (JSON.stringify(e) ?? 'null'));
/** A `goodEvent` (and not one a hostile generator changed): it must be stored. */
const isGood = (e: unknown): e is { eventId: string } => {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return false;
  const { eventId, tenantId, userId, occurredAt } = e as Record<string, unknown>;
  return (
    typeof eventId === 'string' &&
    /^good-[0-9a-f-]{36}$/.test(eventId) &&
    tenantId === 'acme' &&
    typeof userId === 'string' &&
    userId.length >= 1 &&
    userId.length <= 30 &&
    isCleanText(userId) &&
    typeof occurredAt === 'string' &&
    /^202[0-5]-/.test(occurredAt)
  );
};

describe('fuzzed bad input', () => {
  const ctx = useServeStack();
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-fuzz-'));

  beforeAll(async () => {
    // A second tenant, so that cross-tenant claims name a tenant that exists.
    await seedTenant(ctx.stack.db, 'beta');
  });

  it('HTTP: the server never crashes and accepted + duplicates + rejected = sent for every batch', async () => {
    let batches = 0;
    let sent = 0;
    const goodIds = new Set<string>();
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb('acme'), { minLength: 0, maxLength: 40 }), async (events) => {
        const res = await fetch(`${ctx.serve.base}/v1/login-events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
          body: `{"events":[${events.map(textOf).join(',')}]}`,
        });
        expect(res.status).toBe(200);
        const body = (await res.json()) as BatchResponse;
        expect(body.accepted + body.duplicates + body.rejected.length).toBe(events.length);
        // Every good event is stored whatever surrounds it (none of them is rejected).
        const rejected = new Set(body.rejected.map((r) => r.index));
        events.forEach((e, i) => {
          if (!isGood(e)) return;
          expect(rejected.has(i), `good event ${i} rejected: ${JSON.stringify(body.rejected)}`).toBe(false);
          goodIds.add(e.eventId);
        });
        batches += 1;
        sent += events.length;
      }),
      { numRuns: 150 },
    );
    const ids = [...goodIds];
    const stored =
      ids.length === 0
        ? []
        : await ctx.stack.db
            .selectFrom('login_events')
            .select('event_id')
            .where('tenant_id', '=', 'acme')
            .where('event_id', 'in', ids)
            .execute();
    expect(stored).toHaveLength(ids.length);
    // A claim of another tenant never reaches that tenant: not its events, not its rejects.
    expect(await ingestOf(ctx.stack.db, 'beta')).toEqual({ rejects: 0, events: 0 });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 200 }).map((t) => Buffer.from(t)),
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc.string({ maxLength: 50 }).map((t) => Buffer.from(`\u0000${t}`)),
        ),
        async (raw) => {
          const res = await fetch(`${ctx.serve.base}/v1/login-events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` },
            body: raw,
          });
          expect([200, 400]).toContain(res.status);
          await res.arrayBuffer();
        },
      ),
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
            eventArb('acme').map((e) => (e instanceof RawJson ? e.text.slice(0, 20_000) : textOf(e))),
            fc.string({ maxLength: 50 }),
            fc.string({ maxLength: 20 }).map((t) => `{"eventId":"${t}\u0000"}`),
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
          const counts = lastJsonLine<FileImportResult>(r.stdout);
          const nonBlank = flat.filter((l) => l.trim() !== '').length;
          expect(counts.accepted + counts.duplicates + counts.rejected).toBe(nonBlank);
        },
      ),
      { numRuns: 12 },
    );
  });
});
