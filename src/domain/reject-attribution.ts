import { type Day, dayOf } from './calendar.ts';

/** An ISO 8601 instant with a zone (`occurredAt`), as found in a JSON line or a CSV line. */
const INSTANT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})/;

/**
 * The tenant-local day a kept reject belongs to: the day (in `zone`) of the first ISO instant
 * with a zone in its raw text, which is the event's `occurredAt` in every format we take
 * (JSON, NDJSON, CSV: no other field holds an instant). Undefined when there is none or it is
 * not a real instant: the reject is then counted as unattributed.
 * Example: `{"occurredAt":"2026-10-14T23:30:00Z",…}` in Europe/Prague is `2026-10-15`.
 * `dayOfMs` must answer as `dayOf` does (a caller attributing many rejects passes a cache of
 * day bounds: `dayOf` costs about a millisecond per call).
 */
export function rejectDay(
  raw: string,
  zone: string,
  dayOfMs: (ms: number, zone: string) => Day = (ms, z) => dayOf(new Date(ms), z),
): Day | undefined {
  const m = INSTANT.exec(raw);
  if (!m) return undefined;
  const ms = Date.parse(m[0]);
  if (Number.isNaN(ms)) return undefined;
  try {
    return dayOfMs(ms, zone);
  } catch {
    return undefined;
  }
}
