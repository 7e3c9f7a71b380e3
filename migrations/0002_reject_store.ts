import { type Kysely, sql } from 'kysely';

/*
 * The rejects store bounded and indexed (issue 14). Frozen in time: never import application code.
 *
 * - A payload is stored losslessly up to a cap: `raw_encoding` says how `raw` holds it
 *   ('utf8' = the text itself; 'base64' = its bytes, for bytes that are not UTF-8 or text with
 *   NUL; 'utf16le-base64' = the UTF-16 code units of a string with a lone surrogate).
 *   `raw_bytes` and `raw_sha256` describe the whole original payload, `raw_truncated` says that
 *   `raw` holds only its first bytes.
 * - `dedup_key` = SHA-256 of (tenant, eventId, payload hash, reason): "the same open reject is
 *   kept once" becomes an index lookup (the old coalesce() predicate scanned the table).
 *   The application computes it in SQL with the same expression as below.
 * - Listing pages by `(tenant_id, id)` / the primary key; retention deletes by `received_at`.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    ALTER TABLE ingest_rejects
      ADD COLUMN raw_encoding text NOT NULL DEFAULT 'utf8'
        CHECK (raw_encoding IN ('utf8', 'base64', 'utf16le-base64')),
      ADD COLUMN raw_bytes bigint,
      ADD COLUMN raw_sha256 text,
      ADD COLUMN raw_truncated boolean NOT NULL DEFAULT false,
      ADD COLUMN dedup_key text;
    UPDATE ingest_rejects SET
      raw_bytes = octet_length(raw),
      raw_sha256 = encode(sha256(convert_to(raw, 'UTF8')), 'hex');
    UPDATE ingest_rejects SET dedup_key = encode(sha256(convert_to(
      coalesce(length(tenant_id)::text || ':' || tenant_id, '-') || '|' ||
      coalesce(length(event_id)::text || ':' || event_id, '-') || '|' ||
      raw_sha256 || '|' || reason, 'UTF8')), 'hex');
    ALTER TABLE ingest_rejects
      ALTER COLUMN raw_bytes SET NOT NULL,
      ALTER COLUMN raw_sha256 SET NOT NULL,
      ALTER COLUMN dedup_key SET NOT NULL;
    CREATE INDEX ingest_rejects_open_dedup ON ingest_rejects (dedup_key) WHERE resolved_at IS NULL;
    CREATE INDEX ingest_rejects_tenant_id ON ingest_rejects (tenant_id, id);
    CREATE INDEX ingest_rejects_received ON ingest_rejects (received_at);
    DROP INDEX ingest_rejects_tenant_received;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE INDEX ingest_rejects_tenant_received ON ingest_rejects (tenant_id, received_at);
    DROP INDEX ingest_rejects_received;
    DROP INDEX ingest_rejects_tenant_id;
    DROP INDEX ingest_rejects_open_dedup;
    ALTER TABLE ingest_rejects
      DROP COLUMN dedup_key, DROP COLUMN raw_truncated, DROP COLUMN raw_sha256,
      DROP COLUMN raw_bytes, DROP COLUMN raw_encoding;
  `.execute(db);
}
