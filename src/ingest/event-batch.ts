import type { IngestSource } from '../db/repositories/ingest-reject.repository.ts';
import type { NewLoginEvent } from '../db/repositories/login-event.repository.ts';
import { isCleanText } from '../domain/text.ts';
import type { LoginEvent, ParsedEvent } from './login-event.schema.ts';

/*
 * The shapes of a batch of login events and the rules that judge its items against each other
 * (repeats inside the batch, conflicting content, who owns an item), apart from the ingest
 * service that stores them: pure, no database.
 */
/**
 * One received item: its raw payload (kept if rejected: text, or the bytes of a line that is not
 * UTF-8), where it came from, and its parse result.
 */
export interface IngestItem {
  raw: string | Uint8Array;
  location: string;
  parsed: ParsedEvent;
  /** tenantId/eventId read from a payload that failed validation, so its reject can be found by tenant. */
  hint?: { tenantId?: string; eventId?: string };
  /**
   * The HTTP request this item came with, one object shared by its items: a group commit stores
   * the batches of several requests (several keys) in one transaction, so an item carries its
   * request's key tenant (overrides `IngestContext.allowedTenant`), and a repeat of an event
   * of another request is told apart from a repeat within its own.
   */
  origin?: ItemOrigin | undefined;
}

export interface ItemOrigin {
  /** The only tenant the request may write (its key's). */
  allowedTenant?: string;
}

export interface RejectedItem {
  /** 0-based position in the batch. */
  index: number;
  eventId: string | null;
  reason: string;
}

export interface BatchResult {
  accepted: number;
  duplicates: number;
  rejected: RejectedItem[];
}

export interface IngestContext {
  source: IngestSource;
  /** The only tenant the caller may write (HTTP key); undefined = any existing tenant. */
  allowedTenant?: string;
}

export type Outcome = { kind: 'accepted' } | { kind: 'duplicate' } | { kind: 'rejected'; reason: string };
/** A batch's answer and the outcome of each item (for the metrics). */
export type Judged = { result: BatchResult; outcomes: Outcome[] };
/** A batch being judged: each item's outcome (undefined = not yet known) and the candidates to store. */
export interface Batch {
  outcomes: (Outcome | undefined)[];
  firstByKey: FirstPositions;
  /** The first occurrence of each (tenant, eventId) that passed validation, with its day. */
  candidates: NewLoginEvent[];
  /** Position in the batch of each candidate. */
  candidateIndex: number[];
}
export const ACCEPTED: Outcome = { kind: 'accepted' };
export const DUPLICATE: Outcome = { kind: 'duplicate' };

/** First position of each (tenant, eventId) in a batch; nested maps spare a key string per event. */
export class FirstPositions {
  readonly #byTenant = new Map<string, Map<string, number>>();

  get(tenantId: string, eventId: string): number | undefined {
    return this.#byTenant.get(tenantId)?.get(eventId);
  }

  set(tenantId: string, eventId: string, position: number): void {
    let ids = this.#byTenant.get(tenantId);
    if (!ids) {
      ids = new Map();
      this.#byTenant.set(tenantId, ids);
    }
    ids.set(eventId, position);
  }
}

export const keyOf = (tenantId: string, eventId: string) => `${tenantId}\u0000${eventId}`;
export const sameContent = (
  a: { userId: string; occurredAtMs: number },
  b: { userId: string; occurredAtMs: number },
) => a.userId === b.userId && a.occurredAtMs === b.occurredAtMs;

export function conflictReason(
  e: LoginEvent,
  other: { userId: string; occurredAtMs: number },
  where: string,
): string {
  return `eventId "${e.eventId}" of tenant "${e.tenantId}" ${where} with other content (userId "${other.userId}", occurredAt ${new Date(other.occurredAtMs).toISOString()}); an eventId is never reused: send a new eventId`;
}

/** Later repeats inside the batch follow their first occurrence: same content, same fate; other content, a reject. */
export function followFirsts(items: readonly IngestItem[], batch: Batch): void {
  const { outcomes, firstByKey } = batch;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as IngestItem;
    if (outcomes[i] !== undefined || !item.parsed.ok) continue;
    const e = item.parsed.event;
    const first = firstByKey.get(e.tenantId, e.eventId) as number;
    const firstItem = items[first] as IngestItem;
    const firstEvent = (firstItem.parsed as { ok: true; event: LoginEvent }).event;
    const firstOutcome = outcomes[first] as Outcome;
    if (!sameContent(firstEvent, e)) {
      // A first occurrence in another request (group commit) has no position in this one.
      const where =
        firstItem.origin === item.origin
          ? `appears earlier (${firstItem.location})`
          : 'arrived in a concurrent request';
      outcomes[i] = { kind: 'rejected', reason: conflictReason(e, firstEvent, where) };
    } else {
      outcomes[i] = firstOutcome.kind === 'rejected' ? firstOutcome : DUPLICATE;
    }
  }
}

/**
 * The tenant an item (and its reject, and its metrics) belongs to: the authenticated tenant of
 * the caller (HTTP key) whatever the payload claims; without one (files, streams) the claimed
 * tenant if it exists, else none. A claimed tenant is data: it stays in the raw payload and the
 * reason, and never lets one tenant write into another's rejects.
 */
export function ownerOf(item: IngestItem, ctx: IngestContext, zones: Map<string, string>): string | null {
  const allowed = item.origin?.allowedTenant ?? ctx.allowedTenant;
  if (allowed !== undefined) return allowed;
  const claimed = item.parsed.ok ? item.parsed.event.tenantId : item.hint?.tenantId;
  return claimed !== undefined && zones.has(claimed) ? claimed : null;
}

/** `{tenantId, eventId}` of a payload that failed validation, when they are clean strings. */
export function hintOf(value: unknown): IngestItem['hint'] {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  const hint: { tenantId?: string; eventId?: string } = {};
  if (typeof v.tenantId === 'string' && v.tenantId.length <= 63 && isCleanText(v.tenantId))
    hint.tenantId = v.tenantId;
  if (typeof v.eventId === 'string' && v.eventId.length <= 200 && isCleanText(v.eventId))
    hint.eventId = v.eventId;
  return hint;
}
