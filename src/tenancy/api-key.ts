import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/database.ts';
import {
  type ApiKeyRecord,
  findApiKeyByHash,
  insertApiKey,
  touchApiKeyLastUsed,
} from '../db/repositories/api-key.repository.ts';

const KEY_PREFIX = 'bk_';
/** Characters of a key kept in clear (`bk_` + 6): enough to tell keys apart in a list, not to guess one. */
export const KEY_PREFIX_LENGTH = KEY_PREFIX.length + 6;

/**
 * Keys are 32 random bytes, so a plain SHA-256 is enough to store them: there is nothing to
 * brute-force, and a fast hash keeps the per-request check cheap (no bcrypt on the hot path).
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Creates a key for the tenant, valid from `now` until `expiresAt` (null: no expiry). The plain
 * key is returned once and never stored; the record (id, prefix) is what `tenants keys` lists.
 */
export async function issueApiKey(
  db: Db,
  tenantId: string,
  options: { now?: Date; expiresAt?: Date | null } = {},
): Promise<{ key: string; id: string; prefix: string; expiresAt: Date | null }> {
  const key = `${KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const prefix = key.slice(0, KEY_PREFIX_LENGTH);
  const expiresAt = options.expiresAt ?? null;
  const id = await insertApiKey(db, {
    tenantId,
    hash: hashApiKey(key),
    prefix,
    createdAt: options.now ?? new Date(),
    expiresAt,
  });
  return { key, id, prefix, expiresAt };
}

/** Creates a key without expiry and returns the plain key (shown once). */
export async function createApiKey(db: Db, tenantId: string): Promise<string> {
  return (await issueApiKey(db, tenantId)).key;
}

/** Whether a stored key may authenticate at `now`: not revoked, not expired. */
export function keyState(key: ApiKeyRecord, now: Date): 'active' | 'revoked' | 'expired' {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now.getTime()) return 'expired';
  return 'active';
}

export type KeyCheck =
  | { ok: true; tenantId: string; keyId: string }
  | { ok: false; reason: 'malformed' | 'unknown' | 'revoked' | 'expired'; keyId?: string; prefix?: string };

/**
 * Judges a bearer key at instant `now`: the tenant of an active key, else why not (the HTTP
 * answer is the same 401 for every reason; the reason is for the log). The hashes are compared
 * in constant time.
 */
export async function checkApiKey(db: Db, key: string, now: Date): Promise<KeyCheck> {
  if (!key.startsWith(KEY_PREFIX) || key.length > 200) return { ok: false, reason: 'malformed' };
  const hash = hashApiKey(key);
  const found = await findApiKeyByHash(db, hash);
  if (!found) return { ok: false, reason: 'unknown' };
  const a = Buffer.from(found.hash, 'hex');
  const b = Buffer.from(hash, 'hex');
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: 'unknown' };
  const state = keyState(found, now);
  if (state !== 'active') return { ok: false, reason: state, keyId: found.id, prefix: found.prefix };
  return { ok: true, tenantId: found.tenantId, keyId: found.id };
}

/**
 * Records `last_used_at` cheaply: at most once per `granularityMs` per key from this process
 * (and the UPDATE itself skips a row already touched within that time by another process), so a
 * busy key costs one write a minute, not one per request. Remembers at most `maxKeys` keys.
 */
export class LastUseRecorder {
  private readonly written = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly granularityMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  /** Resolves once written (or skipped); never throws for a failed write, which it reports instead. */
  async record(keyId: string, now: Date, onError: (error: unknown) => void): Promise<void> {
    const last = this.written.get(keyId);
    if (last !== undefined && now.getTime() - last < this.granularityMs) return;
    if (this.written.size >= this.maxKeys) this.written.clear();
    this.written.set(keyId, now.getTime());
    try {
      await touchApiKeyLastUsed(this.db, keyId, now, this.granularityMs);
    } catch (error) {
      this.written.delete(keyId);
      onError(error);
    }
  }
}
