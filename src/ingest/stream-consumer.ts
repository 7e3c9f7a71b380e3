import { Redis } from 'ioredis';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.ts';
import type { Logger } from '../logger.ts';
import { EventIngestor, hintOf, type IngestItem } from './event-ingest.service.ts';
import { parseLoginEvent } from './login-event.schema.ts';

export interface StreamConsumerOptions {
  db: Kysely<Database>;
  redisUrl: string;
  stream: string;
  group: string;
  /** This consumer's name in the group; stable across restarts so that its own pending messages are retried. */
  consumer: string;
  logger: Logger;
  now?: () => Date;
  /** How long one XREADGROUP waits for new messages (ms); also bounds how long `close()` waits. */
  blockMs?: number;
  /** A message pending this long (ms) on any consumer is taken over (its consumer is presumed dead). */
  claimIdleMs?: number;
  /** Messages per read. */
  count?: number;
}

type StreamEntry = [id: string, fields: string[] | null];

/**
 * The events of one stream message (`docs/ingest.md`): field `event` holds one JSON event, or
 * field `events` a JSON array of events. Anything else is one rejected payload, never dropped.
 */
export function messageItems(id: string, fields: readonly string[] | null): IngestItem[] {
  const map = new Map<string, string>();
  for (let i = 0; fields && i + 1 < fields.length; i += 2)
    map.set(fields[i] as string, fields[i + 1] as string);
  const location = `stream ${id}`;
  const single = map.get('event');
  const many = map.get('events');
  const rawAll = single ?? many ?? JSON.stringify(Object.fromEntries(map));
  const fail = (reason: string): IngestItem[] => [{ raw: rawAll, location, parsed: { ok: false, reason } }];
  if (single === undefined && many === undefined)
    return fail('stream message has neither an "event" nor an "events" field');
  let value: unknown;
  try {
    value = JSON.parse(rawAll);
  } catch (error) {
    return fail(`not valid JSON: ${(error as Error).message}`);
  }
  const values = single !== undefined ? [value] : value;
  if (!Array.isArray(values)) return fail('field "events" must be a JSON array of events');
  return values.map((v, i) => {
    const parsed = parseLoginEvent(v);
    const raw = JSON.stringify(v) ?? 'null';
    const loc = single !== undefined ? location : `${location} [${i}]`;
    return parsed.ok ? { raw, location: loc, parsed } : { raw, location: loc, parsed, hint: hintOf(v) };
  });
}

function entriesOf(reply: unknown): StreamEntry[] {
  // XREADGROUP: [[stream, [[id, fields], ...]]] or null.
  if (!Array.isArray(reply) || reply.length === 0) return [];
  return ((reply[0] as [string, StreamEntry[]])[1] ?? []).filter((e) => e[1] !== null);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Reads login events from a Redis stream with a consumer group and ingests them through the one
 * ingest path. A read is one batch: its messages are acknowledged (XACK) only after the batch
 * committed, so a crash at any point leaves them pending; they are then retried by this consumer
 * on restart or claimed (XAUTOCLAIM) by a live one once idle for `claimIdleMs`. Redelivery is
 * harmless: the ingest path counts a repeat as a duplicate. A bad message is kept as a reject and
 * acknowledged, so it never blocks the stream. The group is created at the start of the stream
 * if missing (events published before the first consumer started are not skipped).
 */
export async function startStreamConsumer(
  opts: StreamConsumerOptions,
): Promise<{ close(): Promise<void>; stop(): Promise<void> }> {
  const blockMs = opts.blockMs ?? 1000;
  const claimIdleMs = opts.claimIdleMs ?? 60_000;
  const count = opts.count ?? 1000;
  const log = opts.logger.child({ stream: opts.stream, group: opts.group, consumer: opts.consumer });
  const redis = new Redis(opts.redisUrl, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    // RESP2: stream replies in their documented array shapes (RESP3 turns XREADGROUP into a map).
    protocol: 2,
  });
  redis.on('error', (error) => log.warn({ err: error }, 'redis connection error'));
  await redis.connect();
  const ensureGroup = async () => {
    try {
      await redis.call('XGROUP', 'CREATE', opts.stream, opts.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).includes('BUSYGROUP')) throw error;
    }
  };
  await ensureGroup();
  const ingestor = new EventIngestor(opts.db, opts.now);

  const processEntries = async (entries: StreamEntry[]) => {
    if (entries.length === 0) return;
    const items = entries.flatMap(([id, fields]) => messageItems(id, fields));
    const result = await ingestor.ingest(items, { source: 'stream' });
    await redis.call('XACK', opts.stream, opts.group, ...entries.map((e) => e[0]));
    log.debug(
      {
        messages: entries.length,
        accepted: result.accepted,
        duplicates: result.duplicates,
        rejected: result.rejected.length,
      },
      'stream batch committed',
    );
  };

  /** Takes over messages idle on any consumer (a dead one) and processes them. */
  const claimIdle = async () => {
    let cursor = '0-0';
    for (let round = 0; round < 10; round++) {
      const reply = (await redis.call(
        'XAUTOCLAIM',
        opts.stream,
        opts.group,
        opts.consumer,
        claimIdleMs,
        cursor,
        'COUNT',
        count,
      )) as [string, StreamEntry[]];
      const entries = (reply[1] ?? []).filter((e) => e[1] !== null);
      if (entries.length > 0) log.info({ messages: entries.length }, 'claimed messages of an idle consumer');
      await processEntries(entries);
      cursor = reply[0];
      if (cursor === '0-0') return;
    }
  };

  let closing = false;
  // First our own pending messages (left by a previous run of this consumer), then new ones.
  let ownPending = true;
  let nextClaim = 0;
  const loop = (async () => {
    while (!closing) {
      try {
        if (Date.now() >= nextClaim) {
          await claimIdle();
          nextClaim = Date.now() + Math.max(100, Math.floor(claimIdleMs / 2));
        }
        // Our own pending entries first (id 0, no BLOCK: they are there or not), then new ones.
        const reply = await redis.call(
          'XREADGROUP',
          'GROUP',
          opts.group,
          opts.consumer,
          'COUNT',
          count,
          ...(ownPending ? [] : ['BLOCK', blockMs]),
          'STREAMS',
          opts.stream,
          ownPending ? '0' : '>',
        );
        const entries = entriesOf(reply);
        if (ownPending && entries.length === 0) ownPending = false;
        await processEntries(entries);
      } catch (error) {
        if (closing) break;
        ownPending = true;
        if (String((error as Error).message).includes('NOGROUP')) {
          // Redis lost its data (restarted without persistence, a new instance): the group is
          // recreated at the start of whatever the stream now holds.
          log.warn('stream consumer group missing: recreating it');
          try {
            await ensureGroup();
            continue;
          } catch (e) {
            log.error({ err: e }, 'consumer group not recreated; retrying');
          }
        }
        // The database or Redis is away: nothing was acked, so the messages stay pending; retry.
        log.error({ err: error }, 'stream batch failed; retrying');
        await sleep(1000);
      }
    }
  })();

  /** Finishes the batch in hand (commit + ack), then stops reading; waits at most one `blockMs` read. */
  const close = async () => {
    closing = true;
    await loop;
    await redis.quit().catch(() => redis.disconnect());
  };
  // `stop` is an alias: the worker command calls it by that name.
  return { close, stop: close };
}
