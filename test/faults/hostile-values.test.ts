import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { lastJsonLine, runCli } from '../support/cli.ts';
import { userIdsWithReplacementChar } from '../support/fixtures.ts';
import { type BatchResponse, ingestOf, seedTenant, useServeStack } from './support/stack.ts';

/**
 * Issue 14, one story per class of hostile value, against a real `billing serve` on PostgreSQL:
 * each bad value is a reject naming its field, accepted + duplicates + rejected = sent, and every
 * good event sent beside it is stored.
 */
describe('hostile values never cost a good event', () => {
  const ctx = useServeStack();
  let n = 0;
  const good = () => ({
    eventId: `good-${++n}`,
    tenantId: 'acme',
    userId: `u-${n}`,
    occurredAt: '2026-11-19T10:00:00Z',
  });
  const headers = () => ({ 'content-type': 'application/json', authorization: `Bearer ${ctx.key}` });
  const storedIds = async (ids: string[]) =>
    (
      await ctx.stack.db
        .selectFrom('login_events')
        .select('event_id')
        .where('tenant_id', '=', 'acme')
        .where('event_id', 'in', ids)
        .execute()
    ).length;

  beforeAll(async () => {
    await seedTenant(ctx.stack.db, 'beta');
  });

  /** Sends good events around `bad` (raw JSON texts), checks the counts and that the good ones are stored. */
  async function story(what: string, bad: string[], reason: RegExp) {
    const before = [good(), good()];
    const after = [good(), good()];
    const texts = [...before.map((e) => JSON.stringify(e)), ...bad, ...after.map((e) => JSON.stringify(e))];
    const res = await fetch(`${ctx.serve.base}/v1/login-events`, {
      method: 'POST',
      headers: headers(),
      body: `{"events":[${texts.join(',')}]}`,
    });
    expect(res.status, what).toBe(200);
    const body = (await res.json()) as BatchResponse;
    expect(body.accepted + body.duplicates + body.rejected.length, what).toBe(texts.length);
    expect(body.accepted, what).toBe(4);
    expect(
      body.rejected.map((r) => r.index),
      what,
    ).toEqual(bad.map((_, i) => i + 2));
    for (const r of body.rejected) expect(r.reason, what).toMatch(reason);
    expect(await storedIds([...before, ...after].map((e) => e.eventId)), what).toBe(4);
    console.log(
      `[fault] ${what}: sent ${texts.length}, accepted ${body.accepted}, rejected ${body.rejected.length}`,
    );
    return body;
  }

  it('NUL in eventId or userId', async () => {
    await story(
      'NUL',
      [JSON.stringify({ ...good(), userId: 'u\u0000x' }), JSON.stringify({ ...good(), eventId: '\u0000' })],
      /^(userId|eventId): must not contain the NUL character/,
    );
  });

  it('lone surrogates: rejected, never rewritten or merged, the same batch twice gives the same answer', async () => {
    const bad = [
      JSON.stringify({ ...good(), userId: 'u\ud800' }),
      JSON.stringify({ ...good(), userId: 'u\udfff' }),
    ];
    const first = await story('surrogates', bad, /^userId: must be well-formed Unicode/);
    expect(first.rejected).toHaveLength(2);
    const again = await fetch(`${ctx.serve.base}/v1/login-events`, {
      method: 'POST',
      headers: headers(),
      body: `{"events":[${bad.join(',')}]}`,
    });
    const second = (await again.json()) as BatchResponse;
    expect(second.rejected.map((r) => r.reason)).toEqual(first.rejected.map((r) => r.reason));
    expect(second.accepted + second.duplicates).toBe(0);
    expect(await userIdsWithReplacementChar(ctx.stack.db)).toEqual([]);
  });

  it('ancient occurredAt (year 0000, 1999)', async () => {
    await story(
      'ancient dates',
      [
        JSON.stringify({ ...good(), occurredAt: '0000-01-01T00:00:00Z' }),
        JSON.stringify({ ...good(), occurredAt: '1999-12-31T23:59:59Z' }),
      ],
      /^occurredAt: must not be before 2000-01-01T00:00:00Z/,
    );
  });

  it('a 200k-deep nested array', async () => {
    await story('depth bomb', [`${'['.repeat(200_000)}${']'.repeat(200_000)}`], /^\(root\): /);
    expect((await fetch(`${ctx.serve.base}/healthz`)).status).toBe(200);
  });

  it('over-long fields', async () => {
    await story(
      'over-long fields',
      [
        JSON.stringify({ ...good(), userId: 'u'.repeat(201) }),
        JSON.stringify({ ...good(), eventId: 'e'.repeat(100_000) }),
      ],
      /^(userId|eventId): must be at most 200 characters/,
    );
  });

  it("a claim of another tenant: the reject is acme's, beta gets nothing", async () => {
    await story(
      'cross-tenant claim',
      [JSON.stringify({ ...good(), tenantId: 'beta' })],
      /^tenantId: "beta" may not be written with a key of tenant "acme"/,
    );
    expect(await ingestOf(ctx.stack.db, 'beta')).toEqual({ rejects: 0, events: 0 });
  });

  it('a body starting with \\x00 is 400 and kept as one reject', async () => {
    const body = Buffer.concat([Buffer.from([0]), Buffer.from(JSON.stringify({ events: [good()] }))]);
    const res = await fetch(`${ctx.serve.base}/v1/login-events`, {
      method: 'POST',
      headers: headers(),
      body,
    });
    expect(res.status).toBe(400);
    const kept = await ctx.stack.db
      .selectFrom('ingest_rejects')
      .select(['raw', 'raw_encoding', 'raw_bytes', 'tenant_id'])
      .where('location', '=', 'http body')
      .execute();
    expect(kept.map((k) => [Buffer.from(k.raw, 'base64').equals(body), k.raw_encoding, k.tenant_id])).toEqual(
      [[true, 'base64', 'acme']],
    );
  });

  it('settings: NUL in the path or lastName, ancient effectiveAt, too many skills are 400; 200 characters pass', async () => {
    const put = (user: string, body: unknown) =>
      fetch(`${ctx.serve.base}/v1/users/${user}/settings`, {
        method: 'PUT',
        headers: headers(),
        body: JSON.stringify(body),
      });
    const settings = { role: 'user', effectiveAt: '2026-11-01T00:00:00Z' };
    const cases: [string, unknown, RegExp][] = [
      ['u%00x', settings, /^userId: /],
      ['u-1', { ...settings, lastName: 'a\u0000b' }, /^lastName: /],
      ['u-1', { ...settings, effectiveAt: '0000-01-01T00:00:00Z' }, /^effectiveAt: /],
      ['u-1', { ...settings, skills: Array.from({ length: 150_000 }, (_, i) => `s${i}`) }, /^skills: /],
    ];
    for (const [user, body, error] of cases) {
      const res = await put(user, body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(error);
    }
    const long = await put('u'.repeat(200), settings);
    expect(long.status).toBe(200);
    const versions = await ctx.stack.db.selectFrom('settings_versions').select('user_id').execute();
    expect(versions.map((v) => v.user_id)).toEqual(['u'.repeat(200)]);
  });

  it('file import: a NUL line among good lines costs only itself', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'billing-hostile-'));
    const goods = [good(), good(), good()];
    const lines = [
      JSON.stringify(goods[0]),
      JSON.stringify({ ...good(), userId: 'u\u0000x' }),
      `{"eventId":"raw-nul","tenantId":"acme","userId":"u\u0000","occurredAt":"2026-11-19T10:00:00Z"}`,
      JSON.stringify(goods[1]),
      JSON.stringify({ ...good(), occurredAt: '0000-01-01T00:00:00Z' }),
      JSON.stringify(goods[2]),
    ];
    const file = path.join(dir, 'hostile.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runCli(['ingest', file, '--json'], { env: ctx.stack.env });
    expect(r.code).toBe(2);
    const counts = lastJsonLine(r.stdout);
    expect(counts).toEqual({ accepted: 3, duplicates: 0, rejected: 3 });
    expect(await storedIds(goods.map((g) => g.eventId))).toBe(3);
  });
});
