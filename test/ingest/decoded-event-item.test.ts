import { describe, expect, it } from 'vitest';
import {
  csvItem,
  decodedEventItem,
  decodedEventItemAt,
  ndjsonLineItem,
} from '../../src/ingest/event-line.parser.ts';
import { jsonText } from '../../src/ingest/json-text.ts';

const event = { eventId: 'e1', tenantId: 'acme', userId: 'u1', occurredAt: '2026-11-19T10:00:00Z' };

describe('decodedEventItem (an event of an HTTP batch or a stream message)', () => {
  it('renders the location only when read, and the raw text as jsonText would', () => {
    let renders = 0;
    const item = decodedEventItem(event, () => {
      renders += 1;
      return 'http batch index 7';
    });
    expect(item.parsed.ok).toBe(true);
    expect(renders).toBe(0);
    expect(item.location).toBe('http batch index 7');
    expect(renders).toBe(1);
    expect(item.raw).toBe(JSON.stringify(event));
    expect(item.raw).toBe(item.raw);
    expect(item.hint).toBeUndefined();
  });

  it('keeps a value JSON cannot render as jsonText cuts it, and the hint of an invalid event', () => {
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    const bad = { ...event, userId: '', extra: deep };
    const item = decodedEventItem(bad, () => 'stream 1-0 [0]');
    expect(item.parsed.ok).toBe(false);
    expect(item.hint).toEqual({ tenantId: 'acme', eventId: 'e1' });
    expect(item.raw).toBe(jsonText(bad));
    expect(item.raw).toContain('…(cut)');
  });
});

describe('decodedEventItemAt and FileLineItem (no string per item until read)', () => {
  it('locates a decoded event by prefix, index and suffix', () => {
    const origin = { allowedTenant: 'acme' };
    const item = decodedEventItemAt(event, 'stream 1-0 [', 3, ']', origin);
    expect(item.location).toBe('stream 1-0 [3]');
    expect(decodedEventItemAt(event, 'http batch index ', 12, '').location).toBe('http batch index 12');
    expect(item.origin).toBe(origin);
    expect(item.raw).toBe(JSON.stringify(event));
  });

  it('locates a file line as NAME:LINE, and a valid line is its own parse result', () => {
    const good = ndjsonLineItem(JSON.stringify(event), 'data.ndjson', 41);
    expect(good.location).toBe('data.ndjson:41');
    expect(good.raw).toBe(JSON.stringify(event));
    expect(good.parsed.ok && good.parsed.event).toBe(good.parsed);
    expect(good.parsed.ok && good.parsed.event).toEqual({
      eventId: 'e1',
      tenantId: 'acme',
      userId: 'u1',
      occurredAtMs: Date.UTC(2026, 10, 19, 10),
    });
    const bad = ndjsonLineItem('{"eventId":"e2","tenantId":"acme"', 'data.ndjson', 42);
    expect(bad.location).toBe('data.ndjson:42');
    expect(bad.parsed.ok ? '' : bad.parsed.reason).toMatch(/^not valid JSON/);
    const csv = csvItem('e3,acme,u3,not-a-time', 'data.csv', 2, [0, 1, 2, 3]);
    expect(csv.location).toBe('data.csv:2');
    expect(csv.parsed.ok ? '' : csv.parsed.reason).toMatch(/occurredAt/);
    expect(csv.hint).toEqual({ tenantId: 'acme', eventId: 'e3' });
  });
});
