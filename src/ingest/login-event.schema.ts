import { z } from 'zod';
import { describeZodError } from '../domain/settings.ts';
import { cleanString, EARLIEST_INSTANT_ISO, EARLIEST_INSTANT_MS, isCleanText } from '../domain/text.ts';

/**
 * One login event of `docs/file-formats.md`. `occurredAt` must be RFC 3339 with `Z` or an explicit offset
 * (a local time without offset is refused, never guessed); it becomes an instant (ms precision)
 * not before 2000-01-01T00:00:00Z. Every string is well-formed Unicode without NUL
 * (`domain/text.ts`): refused, never rewritten.
 */
export const loginEventSchema = z.object({
  eventId: cleanString(1, 200),
  tenantId: cleanString(1, 63),
  userId: cleanString(1, 200),
  occurredAt: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 timestamp with Z or an offset' }),
});

export interface LoginEvent {
  eventId: string;
  tenantId: string;
  userId: string;
  /** ms since the epoch (UTC). */
  occurredAtMs: number;
  /**
   * The tenant-local day, set by the ingestor when it judges the event (the event then is its
   * own candidate row, `NewLoginEvent`: no second object per event); undefined until then.
   */
  day?: string | undefined;
}

export type ParsedEvent = { ok: true; event: LoginEvent } | { ok: false; reason: string };

/**
 * A valid event that is its own parse result: `ok` and `event` are read from the prototype, so
 * a valid line costs one object here instead of two (the file import parses ~10^6 of them; the
 * objects are what its garbage collection pays for). Its own properties are exactly a
 * `LoginEvent`'s.
 */
class ValidLoginEvent implements LoginEvent {
  eventId: string;
  tenantId: string;
  userId: string;
  occurredAtMs: number;
  day: string | undefined = undefined;

  constructor(eventId: string, tenantId: string, userId: string, occurredAtMs: number) {
    this.eventId = eventId;
    this.tenantId = tenantId;
    this.userId = userId;
    this.occurredAtMs = occurredAtMs;
  }

  get ok(): true {
    return true;
  }

  get event(): LoginEvent {
    return this;
  }
}

/**
 * zod's own pattern for `occurredAt` (RFC 3339 with Z or an offset), so the fast path below
 * accepts exactly what the schema accepts; undefined (fast path off) if zod stops exposing it.
 */
const OCCURRED_AT_PATTERN = (
  loginEventSchema.shape.occurredAt as unknown as { _zod?: { def?: { pattern?: unknown } } }
)._zod?.def?.pattern;
const occurredAtPattern = OCCURRED_AT_PATTERN instanceof RegExp ? OCCURRED_AT_PATTERN : undefined;

const fits = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= max && isCleanText(v);

/**
 * The common valid shape checked by hand (~10x cheaper than `safeParse`, which dominated the
 * import's CPU): undefined when `value` is not plainly valid, and then zod judges it and words
 * the reason. Same verdicts as the schema (property-tested against it).
 */
function fastLoginEvent(value: unknown): ValidLoginEvent | undefined {
  if (occurredAtPattern === undefined || typeof value !== 'object' || value === null || Array.isArray(value))
    return undefined;
  const v = value as Record<string, unknown>;
  const { eventId, tenantId, userId, occurredAt } = v;
  if (!fits(eventId, 200) || !fits(tenantId, 63) || !fits(userId, 200) || typeof occurredAt !== 'string')
    return undefined;
  if (!occurredAtPattern.test(occurredAt)) return undefined;
  const ms = Date.parse(occurredAt);
  if (Number.isNaN(ms) || ms < EARLIEST_INSTANT_MS) return undefined;
  return new ValidLoginEvent(eventId, tenantId, userId, ms);
}

/** Validates one decoded event; the reason names the field. */
export function parseLoginEvent(value: unknown): ParsedEvent {
  const fast = fastLoginEvent(value);
  if (fast !== undefined) return fast;
  return parseLoginEventWithSchema(value);
}

/** `parseLoginEvent` by the zod schema alone (the reference the fast path is tested against). */
export function parseLoginEventWithSchema(value: unknown): ParsedEvent {
  const parsed = loginEventSchema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: describeZodError(parsed.error) };
  const ms = Date.parse(parsed.data.occurredAt);
  if (Number.isNaN(ms)) return { ok: false, reason: 'occurredAt: not a valid instant' };
  if (ms < EARLIEST_INSTANT_MS)
    return { ok: false, reason: `occurredAt: must not be before ${EARLIEST_INSTANT_ISO}` };
  const { eventId, tenantId, userId } = parsed.data;
  return new ValidLoginEvent(eventId, tenantId, userId, ms);
}
