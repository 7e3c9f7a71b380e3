import type { Db } from '../database.ts';

export async function insertApiKey(
  db: Db,
  key: { tenantId: string; hash: string; prefix: string },
): Promise<void> {
  await db
    .insertInto('api_keys')
    .values({ tenant_id: key.tenantId, key_hash: key.hash, key_prefix: key.prefix })
    .execute();
}

/** The tenant and stored hash of a key that is not revoked, looked up by the key's hash. */
export async function findApiKeyByHash(
  db: Db,
  hash: string,
): Promise<{ tenantId: string; hash: string } | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .select(['tenant_id', 'key_hash'])
    .where('key_hash', '=', hash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return row ? { tenantId: row.tenant_id, hash: row.key_hash } : undefined;
}
