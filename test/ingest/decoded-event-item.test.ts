import { describe, expect, it } from 'vitest';
import { decodedEventItem } from '../../src/ingest/event-line.parser.ts';
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
