import { z } from 'zod';
import { describeZodError } from '../domain/settings.ts';

/**
 * One login event of `ingest.md`. `occurredAt` must be RFC 3339 with `Z` or an explicit offset
 * (a local time without offset is refused, never guessed); it becomes an instant (ms precision).
 */
export const loginEventSchema = z.object({
  eventId: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  tenantId: z.string().min(1, 'must not be empty').max(63, 'must be at most 63 characters'),
  userId: z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
  occurredAt: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 timestamp with Z or an offset' }),
});

export interface LoginEvent {
  eventId: string;
  tenantId: string;
  userId: string;
  /** ms since the epoch (UTC). */
  occurredAtMs: number;
}

export type ParsedEvent = { ok: true; event: LoginEvent } | { ok: false; reason: string };

/** Validates one decoded event; the reason names the field. */
export function parseLoginEvent(value: unknown): ParsedEvent {
  const parsed = loginEventSchema.safeParse(value);
  if (!parsed.success) return { ok: false, reason: describeZodError(parsed.error) };
  const ms = Date.parse(parsed.data.occurredAt);
  if (Number.isNaN(ms)) return { ok: false, reason: 'occurredAt: not a valid instant' };
  const { eventId, tenantId, userId } = parsed.data;
  return { ok: true, event: { eventId, tenantId, userId, occurredAtMs: ms } };
}
