import { type Day, dayOf } from './calendar.ts';

/** An ISO 8601 instant with a zone (`occurredAt`), as found in a JSON line or a CSV line. */
const INSTANT = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})/;

/** Only the start of a stored payload is searched for its instant (a reject may hold a whole body). */
export const REJECT_HEAD_CHARS = 2_000;

/**
 * The first `REJECT_HEAD_CHARS` characters (code points, as PostgreSQL's `substring(raw for n)`
 * counts them) of a stored payload: where `rejectDay` looks.
 */
export function rejectHead(raw: string): string {
  let i = 0;
  for (let n = 0; n < REJECT_HEAD_CHARS && i < raw.length; n++) {
    i += (raw.codePointAt(i) as number) > 0xffff ? 2 : 1;
  }
  return raw.slice(0, i);
}

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
