import { createHash } from 'node:crypto';
import { type RawBuilder, sql } from 'kysely';
import { rejectDay, rejectHead } from '../../domain/reject-attribution.ts';
import { TenantDayCache } from '../../ingest/tenant-day-cache.ts';
import type { Db } from '../database.ts';

/** Where a reject came from: login events by HTTP, file or stream, or a settings file's line. */
export type IngestSource = 'http' | 'file' | 'stream' | 'settings-file';

/** How `raw` holds the payload: the text itself, its bytes in base64, or UTF-16 code units in base64. */
export type RawEncoding = 'utf8' | 'base64' | 'utf16le-base64';

/** At most this many bytes of a payload are stored; its full length and SHA-256 are kept beside them. */
export const MAX_STORED_RAW_BYTES = 64 * 1024;
/** Reasons and locations are ours, but may quote input: capped too. */
const MAX_META_CHARS = 2_000;

export interface NewIngestReject {
  source: IngestSource;
  /** The tenant the reject belongs to: the authenticated one, or an existing claimed one, else null. */
  tenantId: string | null;
  eventId: string | null;
  /** Where it came from: `FILE:LINE`, `http batch index N`, `stream MESSAGE-ID`. */
  location: string | null;
  /**
   * The payload exactly as received (a line, an event's JSON, a whole body): text, or the bytes
   * of a line that is not UTF-8. Stored losslessly up to `MAX_STORED_RAW_BYTES`.
   */
  raw: string | Uint8Array;
  reason: string;
}

export interface IngestReject {
  id: string;
  receivedAt: Date;
  resolvedAt: Date | null;
  source: IngestSource;
  tenantId: string | null;
  eventId: string | null;
  location: string | null;
  /** The stored payload (its first `MAX_STORED_RAW_BYTES` bytes), in `rawEncoding`. */
  raw: string;
  rawEncoding: RawEncoding;
  /** Size of the whole original payload in bytes (UTF-8, or UTF-16 for 'utf16le-base64'). */
  rawBytes: number;
  /** SHA-256 (hex) of the whole original payload's bytes. */
  rawSha256: string;
  /** True when `raw` holds only the first bytes of the payload. */
  rawTruncated: boolean;
  reason: string;
}

export interface StoredRaw {
  raw: string;
  encoding: RawEncoding;
  bytes: number;
  sha256: string;
  truncated: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Largest end <= max that does not split a UTF-8 sequence of `buf`. */
function utf8Boundary(buf: Uint8Array, max: number): number {
  if (buf.length <= max) return buf.length;
  let end = max;
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end -= 1;
  return end;
}

function asBase64(bytes: Uint8Array, encoding: RawEncoding, cap: number): StoredRaw {
  const keep = encoding === 'utf16le-base64' ? cap - (cap % 2) : cap;
  const truncated = bytes.length > keep;
  return {
    raw: Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, keep)).toString('base64'),
    encoding,
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    truncated,
  };
}

/**
 * How a payload is stored. A PostgreSQL text value cannot hold NUL, a lone surrogate (the
 * driver would write U+FFFD: a silent rewrite) or bytes that are not UTF-8, so such payloads
 * are stored in base64 with their encoding; everything else as text. Either way at most `cap`
 * bytes (text cut at a character boundary), with the whole payload's size and SHA-256.
 */
export function storedRaw(raw: string | Uint8Array, cap = MAX_STORED_RAW_BYTES): StoredRaw {
  let text: string;
  if (typeof raw === 'string') {
    if (!isWellFormedText(raw)) return asBase64(Buffer.from(raw, 'utf16le'), 'utf16le-base64', cap);
    text = raw;
  } else {
    try {
      text = utf8.decode(raw);
    } catch {
      return asBase64(raw, 'base64', cap);
    }
  }
  const bytes = Buffer.from(text, 'utf8');
  if (text.includes('\u0000')) return asBase64(bytes, 'base64', cap);
  const end = utf8Boundary(bytes, cap);
  return {
    raw: end === bytes.length ? text : bytes.toString('utf8', 0, end),
    encoding: 'utf8',
    bytes: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    truncated: end < bytes.length,
  };
}

/** The original payload bytes of a stored reject (its first bytes when truncated). */
export function rawBytesOf(r: Pick<IngestReject, 'raw' | 'rawEncoding'>): Uint8Array {
  return r.rawEncoding === 'utf8' ? Buffer.from(r.raw, 'utf8') : Buffer.from(r.raw, 'base64');
}

function isWellFormedText(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed();
}

/** NUL and lone surrogates (built from a string: the linter refuses a control character in a literal). */
const ESCAPED = new RegExp(
  `${String.fromCharCode(0)}|[\\uD800-\\uDBFF](?![\\uDC00-\\uDFFF])|(?<![\\uD800-\\uDBFF])[\\uDC00-\\uDFFF]`,
  'g',
);

/** Our own text columns (reason, location) never refuse a value: NUL and lone surrogates are escaped. */
function metaText(s: string): string {
  const capped = s.length > MAX_META_CHARS ? `${s.slice(0, MAX_META_CHARS)}…` : s;
  if (!capped.includes('\u0000') && isWellFormedText(capped)) return capped;
  return capped.replace(ESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A key column holds only a value that the store can keep unchanged (else null: it is in `raw`). */
function keyText(s: string | null, max: number): string | null {
  return s !== null && s.length <= max && !s.includes('\u0000') && isWellFormedText(s) ? s : null;
}

/**
 * Keeps rejected payloads. An open reject with the same tenant, eventId, payload (by SHA-256)
 * and reason is not kept twice, so re-running a file or retrying an HTTP batch does not pile up
 * copies. The check is one probe of the partial index `ingest_rejects_open_dedup` per reject
 * (`dedup_key`: the expression below, the same as in migration 0002). Each reject is stored with
 * the tenant-local day it is attributed to (`rejectDay` in the tenant's zone, migration 0011), so
 * reconcile counts open rejects per day from an index. Two statements for the batch (the tenants'
 * zones, then the insert); one when no reject names a tenant.
 */
export async function insertIngestRejects(
  db: Db,
  rejects: readonly NewIngestReject[],
  receivedAt: Date,
): Promise<void> {
  if (rejects.length === 0) return;
  const stored = rejects.map((r) => storedRaw(r.raw));
  const days = await attributedDays(db, rejects, stored);
  await insertIngestRejectsStatement(rejects, receivedAt, days, stored).execute(db);
}

/** Day bounds per zone, shared by every batch (bounded: see TenantDayCache). */
const dayCache = new TenantDayCache();
const cachedDayOf = (ms: number, zone: string) => dayCache.dayOf(ms, zone);

/**
 * The day each reject is attributed to: `rejectDay` of the head of its stored payload in its
 * tenant's zone; null without a (stored, existing) tenant or a readable instant. A payload kept
 * in base64 never matches (its alphabet has no '-').
 */
async function attributedDays(
  db: Db,
  rejects: readonly NewIngestReject[],
  stored: readonly StoredRaw[],
): Promise<(string | null)[]> {
  const tenantIds = rejects.map((r) => keyText(r.tenantId, 63));
  const named = [...new Set(tenantIds.filter((t): t is string => t !== null))];
  if (named.length === 0) return rejects.map(() => null);
  const { rows } = await sql<{ id: string; timezone: string }>`
    SELECT id, timezone FROM tenants WHERE id = ANY (${named}::text[])
  `.execute(db);
  const zones = new Map(rows.map((r) => [r.id, r.timezone]));
  return stored.map((s, i) => {
    const zone = zones.get(tenantIds[i] as string);
    if (zone === undefined || s.encoding !== 'utf8') return null;
    return rejectDay(rejectHead(s.raw), zone, cachedDayOf) ?? null;
  });
}

/**
 * The statement of `insertIngestRejects`, not executed (tests EXPLAIN it: docs/performance/ingest.md).
 * `days`: the attributed day of each reject (null: none).
 */
export function insertIngestRejectsStatement(
  rejects: readonly NewIngestReject[],
  receivedAt: Date,
  days: readonly (string | null)[] = rejects.map(() => null),
  stored: readonly StoredRaw[] = rejects.map((r) => storedRaw(r.raw)),
): RawBuilder<unknown> {
  return sql`
    WITH x AS (
      SELECT x.*, encode(sha256(convert_to(
        coalesce(length(x.t)::text || ':' || x.t, '-') || '|' ||
        coalesce(length(x.e)::text || ':' || x.e, '-') || '|' ||
        x.h || '|' || x.reason, 'UTF8')), 'hex') AS k
      FROM unnest(
        ${rejects.map((r) => r.source)}::text[], ${rejects.map((r) => keyText(r.tenantId, 63))}::text[],
        ${rejects.map((r) => keyText(r.eventId, 200))}::text[],
        ${rejects.map((r) => (r.location === null ? null : metaText(r.location)))}::text[],
        ${stored.map((s) => s.raw)}::text[], ${stored.map((s) => s.encoding)}::text[],
        ${stored.map((s) => s.bytes)}::int8[], ${stored.map((s) => s.sha256)}::text[],
        ${stored.map((s) => s.truncated)}::bool[], ${rejects.map((r) => metaText(r.reason))}::text[],
        ${[...days]}::date[]
      ) WITH ORDINALITY AS x(s, t, e, l, raw, enc, n, h, tr, reason, day, ord)
    )
    INSERT INTO ingest_rejects (received_at, source, tenant_id, event_id, location, raw, raw_encoding,
      raw_bytes, raw_sha256, raw_truncated, reason, dedup_key, day)
    SELECT ${receivedAt}::timestamptz, d.s, d.t, d.e, d.l, d.raw, d.enc, d.n, d.h, d.tr, d.reason, d.k, d.day
    FROM (
      SELECT DISTINCT ON (x.k) x.* FROM x
      WHERE NOT EXISTS (
        SELECT 1 FROM ingest_rejects r WHERE r.dedup_key = x.k AND r.resolved_at IS NULL
      )
      ORDER BY x.k, x.ord
    ) d
    ORDER BY d.ord -- ids in batch order: the listing shows rejects in the order they came
  `;
}

export interface RejectFilter {
  tenantId?: string;
  includeResolved?: boolean;
}

/** A row of `ingest_rejects` as read (int8 as text). */
export type RejectRow = {
  id: string;
  received_at: Date;
  resolved_at: Date | null;
  source: string;
  tenant_id: string | null;
  event_id: string | null;
  location: string | null;
  raw: string;
  raw_encoding: string;
  raw_bytes: string;
  raw_sha256: string;
  raw_truncated: boolean;
  reason: string;
};

export function rejectOf(r: RejectRow): IngestReject {
  return {
    id: r.id,
    receivedAt: r.received_at,
    resolvedAt: r.resolved_at,
    source: r.source as IngestSource,
    tenantId: r.tenant_id,
    eventId: r.event_id,
    location: r.location,
    raw: r.raw,
    rawEncoding: r.raw_encoding as RawEncoding,
    rawBytes: Number(r.raw_bytes),
    rawSha256: r.raw_sha256,
    rawTruncated: r.raw_truncated,
    reason: r.reason,
  };
}

/**
 * One page of kept rejects in id order (the order they were kept), after `afterId`: keyset
 * paging on the primary key or `(tenant_id, id)`, so listing any number costs bounded memory.
 * Open ones only unless `includeResolved`.
 */
export async function listIngestRejects(
  db: Db,
  filter: RejectFilter & { afterId?: string; limit?: number },
): Promise<IngestReject[]> {
  let q = db
    .selectFrom('ingest_rejects')
    .select([
      'id',
      'received_at',
      'resolved_at',
      'source',
      'tenant_id',
      'event_id',
      'location',
      'raw',
      'raw_encoding',
      'raw_bytes',
      'raw_sha256',
      'raw_truncated',
      'reason',
    ]);
  if (filter.tenantId !== undefined) q = q.where('tenant_id', '=', filter.tenantId);
  if (!filter.includeResolved) q = q.where('resolved_at', 'is', null);
  if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId);
  const rows = await q
    .orderBy('id')
    .limit(filter.limit ?? 10_000)
    .execute();
  return rows.map(rejectOf);
}

/**
 * Retention: deletes at most `limit` rejects received before `before` (resolved ones only
 * unless `includeOpen`), oldest first; returns how many. Called in a loop so that no statement
 * holds many locks or a long transaction.
 */
export async function deleteIngestRejects(
  db: Db,
  filter: { before: Date; includeOpen: boolean; tenantId?: string; limit: number },
): Promise<number> {
  const { rows } = await sql<{ n: string }>`
    WITH doomed AS (
      SELECT id FROM ingest_rejects
      WHERE received_at < ${filter.before}::timestamptz
        ${filter.includeOpen ? sql`` : sql`AND resolved_at IS NOT NULL`}
        ${filter.tenantId === undefined ? sql`` : sql`AND tenant_id = ${filter.tenantId}`}
      ORDER BY received_at
      LIMIT ${filter.limit}
    ), gone AS (
      DELETE FROM ingest_rejects r USING doomed WHERE r.id = doomed.id RETURNING 1
    )
    SELECT count(*)::text AS n FROM gone
  `.execute(db);
  return Number(rows[0]?.n ?? 0);
}
