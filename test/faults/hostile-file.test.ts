import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileImportResult } from '../../src/ingest/event-file-import.ts';
import { lastJsonLine, runCli } from '../support/cli.ts';
import { countRows, makeEvents, type Stack, seedTenant, startStack } from './support/stack.ts';

const GOOD = 20_000;
const HUGE = 40 * 1024 * 1024;

/**
 * Hostile lines a broken or malicious producer writes into an import file, each with what
 * it must become. Every one is a reject naming its line; none costs a good line.
 */
function hostileLines(): { name: string; bytes: Buffer }[] {
  const ev = (eventId: string, userId: string, occurredAt = '2026-11-20T08:00:00Z') =>
    JSON.stringify({ eventId, tenantId: 'acme', userId, occurredAt });
  return [
    { name: 'a NUL byte', bytes: Buffer.from(ev('h-nul-byte', 'u\u0000x').replace('\\u0000', '\u0000')) },
    { name: 'a NUL escape', bytes: Buffer.from(ev('h-nul-escape', 'u\u0000x')) },
    {
      name: 'invalid UTF-8',
      bytes: Buffer.concat([
        Buffer.from(ev('h-utf8', 'u-').slice(0, -40)),
        Buffer.from([0xed, 0xa0, 0x80]),
        Buffer.from('"}'),
      ]),
    },
    { name: 'a 40 MB line', bytes: Buffer.from(ev('h-huge', 'x'.repeat(HUGE))) },
    { name: 'year 0000', bytes: Buffer.from(ev('h-ancient', 'u-1', '0000-01-01T00:00:00Z')) },
  ];
}

describe('hostile lines in an import file', () => {
  let stack: Stack;
  const dir = mkdtempSync(path.join(tmpdir(), 'billing-hostile-file-'));
  beforeAll(async () => {
    stack = await startStack();
    await seedTenant(stack.db, 'acme');
  });
  afterAll(async () => stack?.stop());

  it('every good line is stored, every hostile one is a reject naming its line, and the counts add up', async () => {
    const good = makeEvents('acme', 0, GOOD, 500).map((e) => Buffer.from(JSON.stringify(e)));
    const hostile = hostileLines();
    // Hostile lines spread through the file: first line, middle of a batch, last line.
    const lines: Buffer[] = [hostile[0]?.bytes as Buffer];
    const at = new Map<string, number>([[hostile[0]?.name as string, 1]]);
    const step = Math.floor(GOOD / (hostile.length - 1));
    good.forEach((g, i) => {
      lines.push(g);
      const h = hostile[1 + Math.floor(i / step)];
      if ((i + 1) % step === 0 && h) {
        lines.push(h.bytes);
        at.set(h.name, lines.length);
      }
    });
    expect(at.size).toBe(hostile.length);
    const file = path.join(dir, 'hostile.ndjson');
    writeFileSync(file, Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\n')])));

    const r = await runCli(['ingest', file, '--json'], { env: { ...stack.env, LOG_LEVEL: 'info' } });
    expect(r.code, r.stderr.slice(-2000)).toBe(2);
    const counts = lastJsonLine<FileImportResult>(r.stdout);
    expect(counts).toEqual({ accepted: GOOD, duplicates: 0, rejected: hostile.length });
    expect(counts.accepted + counts.duplicates + counts.rejected).toBe(lines.length);
    for (const [name, lineNo] of at) expect(r.stderr, name).toContain(`${file}:${lineNo}: `);
    expect(r.stderr).toContain(`${file}:${at.get('a NUL byte')}: contains a NUL byte (0x00)`);
    expect(r.stderr).toContain(`${file}:${at.get('invalid UTF-8')}: not valid UTF-8 at byte offset`);
    expect(r.stderr).toContain(
      `${file}:${at.get('a 40 MB line')}: line too long: ${hostile[3]?.bytes.length} bytes`,
    );

    const rows = await countRows(stack.db);
    expect(rows.events).toBe(GOOD);
    expect(rows.logins).toBe(GOOD);
    const { rows: rejects } = await sql<{ location: string; len: number }>`
      SELECT location, length(raw) AS len FROM ingest_rejects ORDER BY location`.execute(stack.db);
    expect(rejects.map((x) => x.location).sort()).toEqual([...at.values()].map((n) => `${file}:${n}`).sort());
    expect(Math.max(...rejects.map((x) => x.len))).toBeLessThan(100_000);
    const rss = /"maxRssMb":(\d+)/.exec(r.stderr)?.[1];
    // The 40 MB line is never buffered whole (the old splitter peaked at 456 MB on it).
    expect(Number(rss)).toBeLessThan(350);
    console.log(
      `[fault] hostile file: ${lines.length} lines (${hostile.length} hostile, one of ${HUGE / 1048576} MB): ` +
        `accepted ${counts.accepted}, rejected ${counts.rejected}, peak RSS ${rss} MB`,
    );

    // Run again: the good lines are duplicates, the hostile ones rejects again, nothing stored twice.
    const again = await runCli(['ingest', file, '--json'], { env: stack.env });
    expect(lastJsonLine(again.stdout)).toEqual({
      accepted: 0,
      duplicates: GOOD,
      rejected: hostile.length,
    });
    expect((await countRows(stack.db)).events).toBe(GOOD);
  });
});
