import type { FastifyInstance } from 'fastify';
import type { Db } from '../../db/database.ts';
import type { IngestItem } from '../../ingest/event-ingest.service.ts';
import { decodedEventItemAt } from '../../ingest/event-line.parser.ts';
import type { GroupCommit } from '../../ingest/group-commit.ts';
import { keepRejectedPayload } from '../../ingest/rejects.service.ts';
import { requireTenantKey, tenantOf } from '../auth.ts';
import { isRawBody } from '../raw-body.ts';

/** `docs/api.md`: at most this many events per request. */
export const MAX_EVENTS_PER_BATCH = 10_000;

/**
 * `POST /v1/login-events` with `{"events": [...]}`; 200 once every event is judged and committed.
 * Concurrent requests share transactions (`GroupCommit`); each gets its own answer.
 */
export function loginEventsRoute(
  app: FastifyInstance,
  deps: { db: Db; commits: GroupCommit; now: () => Date },
) {
  app.post('/v1/login-events', { onRequest: requireTenantKey(deps.db) }, async (request, reply) => {
    const tenantId = tenantOf(request);
    const body = request.body;
    const raw = isRawBody(body) ? (body.json ? body.text : body.bytes) : '';
    let problem: string | undefined;
    let events: unknown[] = [];
    if (!isRawBody(body)) problem = 'empty body: expected {"events": [...]}';
    else if (!body.json) problem = body.error;
    else {
      const v = body.value as { events?: unknown } | null;
      if (typeof v !== 'object' || v === null || Array.isArray(v) || !Array.isArray(v.events)) {
        problem = 'body must be a JSON object {"events": [...]}';
      } else events = v.events;
    }
    if (problem !== undefined) {
      // Kept as one rejected payload, byte for byte (bytes when not UTF-8; capped with its hash
      // and length by the store): nothing sent is ever lost.
      await keepRejectedPayload(
        deps.db,
        { source: 'http', tenantId, eventId: null, location: 'http body', raw, reason: problem },
        deps.now(),
      );
      return reply.code(400).send({ error: problem });
    }
    if (events.length > MAX_EVENTS_PER_BATCH) {
      return reply.code(413).send({
        error: `a batch holds at most ${MAX_EVENTS_PER_BATCH} events, this one has ${events.length}: nothing was stored; split it`,
      });
    }
    // The raw text (jsonText never throws: a depth bomb is kept as a cut render, not a 500) and
    // the location are rendered only for the items that need them (rejects).
    // Each item carries its request (the key's tenant): a shared transaction mixes the requests
    // of several keys.
    const origin = { allowedTenant: tenantId };
    const items: IngestItem[] = events.map((value, index) =>
      decodedEventItemAt(value, 'http batch index ', index, '', origin),
    );
    // The body's bytes and text are not needed any more: not held while the batch waits for its
    // shared transaction (bounded memory under load: only the decoded events wait).
    (request as { body: unknown }).body = undefined;
    const result = await deps.commits.submit(items);
    return reply.code(200).send(result);
  });
}
