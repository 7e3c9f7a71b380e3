import type { Db } from '../database.ts';

/** What is stored about a key: never the key itself, only its SHA-256 and its first characters. */
export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  prefix: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

type ApiKeyRow = {
  id: string;
  tenant_id: string;
  key_prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
};

const COLUMNS = [
  'id',
  'tenant_id',
  'key_prefix',
  'created_at',
  'last_used_at',
  'expires_at',
  'revoked_at',
] as const;

function rowToApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    prefix: row.key_prefix,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export async function insertApiKey(
  db: Db,
  key: { tenantId: string; hash: string; prefix: string; createdAt: Date; expiresAt: Date | null },
): Promise<string> {
  const row = await db
    .insertInto('api_keys')
    .values({
      tenant_id: key.tenantId,
      key_hash: key.hash,
      key_prefix: key.prefix,
      created_at: key.createdAt,
      expires_at: key.expiresAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * The key with this hash (revoked and expired ones included: the caller judges them, so that it
 * can log why a known key was refused), by the unique index on `key_hash`.
 */
export async function findApiKeyByHash(
  db: Db,
  hash: string,
): Promise<(ApiKeyRecord & { hash: string }) | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select([...COLUMNS, 'key_hash'])
    .where('key_hash', '=', hash)
    .executeTakeFirst();
  return row ? { ...rowToApiKey(row), hash: row.key_hash } : undefined;
}

/** Every key of the tenant, oldest first. */
export async function listApiKeys(db: Db, tenantId: string): Promise<ApiKeyRecord[]> {
  const rows = await db
    .selectFrom('api_keys')
    .select(COLUMNS)
    .where('tenant_id', '=', tenantId)
    .orderBy('id')
    .execute();
  return rows.map(rowToApiKey);
}

/** Keys of the tenant whose id is `id` or whose prefix is `prefix` (0, 1 or, for a prefix, several). */
export async function findApiKeys(
  db: Db,
  tenantId: string,
  by: { id: string } | { prefix: string },
): Promise<ApiKeyRecord[]> {
  let query = db.selectFrom('api_keys').select(COLUMNS).where('tenant_id', '=', tenantId);
  query = 'id' in by ? query.where('id', '=', by.id) : query.where('key_prefix', '=', by.prefix);
  return (await query.orderBy('id').execute()).map(rowToApiKey);
}

/** Sets `revoked_at` unless already set; true when this call revoked it. */
export async function revokeApiKey(db: Db, tenantId: string, id: string, at: Date): Promise<boolean> {
  const result = await db
    .updateTable('api_keys')
    .set({ revoked_at: at })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Records that the key was used at `at`, unless a use within the last `granularityMs` is already
 * recorded (so that several processes do not each write it every time).
 */
export async function touchApiKeyLastUsed(
  db: Db,
  id: string,
  at: Date,
  granularityMs: number,
): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: at })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([
        eb('last_used_at', 'is', null),
        eb('last_used_at', '<', new Date(at.getTime() - granularityMs)),
      ]),
    )
    .execute();
}
