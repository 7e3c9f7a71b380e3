import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/database.ts';
import { findApiKeyByHash, insertApiKey } from '../db/repositories/api-key.repository.ts';

const KEY_PREFIX = 'bk_';

/**
 * Keys are 32 random bytes, so a plain SHA-256 is enough to store them: there is nothing to
 * brute-force, and a fast hash keeps the per-request check cheap (no bcrypt on the hot path).
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Creates a key for the tenant; the plain key is returned once and never stored. */
export async function createApiKey(db: Db, tenantId: string): Promise<string> {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  await insertApiKey(db, { tenantId, hash: hashApiKey(key), prefix: key.slice(0, KEY_PREFIX.length + 6) });
  return key;
}

/** The tenant a bearer key belongs to, or undefined. The hashes are compared in constant time. */
export async function authenticateApiKey(db: Db, key: string): Promise<string | undefined> {
  if (!key.startsWith(KEY_PREFIX) || key.length > 200) return undefined;
  const hash = hashApiKey(key);
  const found = await findApiKeyByHash(db, hash);
  if (!found) return undefined;
  const a = Buffer.from(found.hash, 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b) ? found.tenantId : undefined;
}
