import { hintOf, type IngestItem } from './event-ingest.service.ts';
import { decodedEventItemAt } from './event-line.parser.ts';
import { byteProblem } from './line-splitter.ts';
import { parseLoginEvent } from './login-event.schema.ts';

/** One stream entry as Redis returns it to a binary-safe call: id and field/value pairs. */
export type StreamEntry = [id: Buffer | string, fields: (Buffer | string)[] | null];

const text = (v: Buffer | string) => (typeof v === 'string' ? v : v.toString('utf8'));

/**
 * The entries of an XREADGROUP reply (`[[stream, [[id, fields], ...]]]` or null) or of the
 * second element of an XAUTOCLAIM reply; entries deleted from the stream (fields null) are left out.
 */
export function entriesOf(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  return ((reply[0] as [unknown, StreamEntry[]])[1] ?? []).filter((e) => e[1] !== null);
}

export function entryId(entry: StreamEntry): string {
  return text(entry[0]);
}

/**
 * The events of one stream message (`docs/ingest.md`): field `event` holds one JSON event, or
 * field `events` a JSON array of events. Anything else is one rejected payload, never dropped:
 * a value that is not valid UTF-8 or holds a NUL byte (kept as bytes, never rewritten), bad
 * JSON, a non-array `events`, no such field. Never throws.
 */
export function messageItems(entry: StreamEntry): IngestItem[] {
  const location = `stream ${entryId(entry)}`;
  const map = new Map<string, Buffer | string>();
  const fields = entry[1] ?? [];
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(text(fields[i] as Buffer), fields[i + 1] as Buffer);
  const name = map.has('event') ? 'event' : map.has('events') ? 'events' : undefined;
  if (name === undefined) {
    const all = JSON.stringify(Object.fromEntries([...map].map(([k, v]) => [k, text(v)])));
    return [rejected(all, location, 'stream message has neither an "event" nor an "events" field')];
  }
  const value = map.get(name) as Buffer | string;
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  const problem = byteProblem(bytes);
  if (problem !== undefined)
    return [rejected(bytes, location, `field "${name}" ${problem.replace(' of the line', '')}`)];
  return parsedItems(bytes.toString('utf8'), name === 'event', location);
}

function rejected(raw: string | Uint8Array, location: string, reason: string): IngestItem {
  return { raw, location, parsed: { ok: false, reason } };
}

function parsedItems(raw: string, single: boolean, location: string): IngestItem[] {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    return [rejected(raw, location, `not valid JSON: ${(error as Error).message}`)];
  }
  if (single) return [eventItem(value, raw, location)];
  if (!Array.isArray(value))
    return [rejected(raw, location, 'field "events" must be a JSON array of events')];
  const prefix = `${location} [`;
  return value.map((v, i) => decodedEventItemAt(v, prefix, i, ']'));
}

function eventItem(value: unknown, raw: string, location: string): IngestItem {
  const parsed = parseLoginEvent(value);
  return parsed.ok ? { raw, location, parsed } : { raw, location, parsed, hint: hintOf(value) };
}

/**
 * The items of a message the database would not take for a reason that is neither transient
 * nor a data error the ingestor isolates itself: each kept as a reject saying why, so that the
 * message can be acked and nothing behind it waits.
 */
export function refusedItems(items: readonly IngestItem[], error: unknown): IngestItem[] {
  const reason = `could not be stored: ${String((error as Error)?.message ?? error).slice(0, 500)}`;
  return items.map((item) => ({
    raw: item.raw,
    location: item.location,
    parsed: { ok: false, reason },
    hint: item.parsed.ok
      ? { tenantId: item.parsed.event.tenantId, eventId: item.parsed.event.eventId }
      : item.hint,
  }));
}
