/**
 * SQLSTATE classes that say the database is away or busy, not that the input is bad: connection
 * exception (08), transaction rollback such as a deadlock or serialization failure (40),
 * insufficient resources (53), operator intervention such as a shutdown (57), system error (58).
 */
const TRANSIENT_SQLSTATE_CLASSES = new Set(['08', '40', '53', '57', '58']);

/** Node socket errors of a connection that could not be made or was cut. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * Whether an error of a database call says "try again later" (the server is down, restarting,
 * unreachable, or the transaction lost a race) rather than "this input cannot be stored".
 * A caller retries the first kind whole and isolates the input on the second.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code))
    return TRANSIENT_SQLSTATE_CLASSES.has(code.slice(0, 2));
  if (code !== undefined && NETWORK_CODES.has(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Connection is closed|ECONNREFUSED|ECONNRESET/i.test(
    message,
  );
}

/**
 * A database error caused by the data sent, not by the database being away: SQLSTATE class 22
 * (data exception: a NUL, an out-of-range date), 23 (integrity constraint) or 54 (program limit,
 * e.g. an index row too large). Sending the same data again would fail the same way, so the
 * caller isolates it (`EventIngestor`) or answers bad input.
 */
export function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code);
}
