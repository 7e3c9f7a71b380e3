/**
 * Whether an error means "the database cannot be reached right now" (restart, failover,
 * connection limit) rather than a bug: PostgreSQL SQLSTATE classes 08 (connection exception) and
 * 57P01-57P03 (admin/crash shutdown, cannot connect now), 53300 (too many connections), socket
 * errors, and the pg driver's messages for a dropped connection. Looks through `cause` and
 * AggregateError's `errors` (Node's multi-address connect).
 */
export function isConnectionError(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const e = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (/^08[0-9A-Z]{3}$/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
  if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN'].includes(code))
    return true;
  const message = typeof e.message === 'string' ? e.message : '';
  if (
    /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Client was closed and is not queryable/i.test(
      message,
    )
  )
    return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isConnectionError(x, depth + 1))) return true;
  return isConnectionError(e.cause, depth + 1);
}
