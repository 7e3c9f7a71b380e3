import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConnection } from '../../src/db/connection.ts';
import { buildServer } from '../../src/http/server.ts';
import { createApiKey } from '../../src/tenancy/api-key.ts';
import { addTenant } from '../../src/tenancy/tenant.service.ts';
import { BACKENDS } from '../support/backends.ts';

const TIMEOUTS = { requestMs: 1_500, headersMs: 1_000, keepAliveMs: 500, idleMs: 10_000 };

/** A raw connection that records what the server sends and when it closes the connection. */
function rawClient(
  port: number,
): Promise<{ socket: Socket; received: () => string; closed: Promise<number>; isOpen: () => boolean }> {
  return new Promise((resolve, reject) => {
    const opened = Date.now();
    let open = true;
    let data = '';
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('utf8').on('data', (d: string) => {
      data += d;
    });
    const closed = new Promise<number>((r) =>
      socket.on('close', () => {
        open = false;
        r(Date.now() - opened);
      }),
    );
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, received: () => data, closed, isOpen: () => open }));
    socket.once('error', reject);
  });
}

describe.each(BACKENDS)('HTTP limits of billing serve on $name', ({ name, open }) => {
  let conn: DatabaseConnection;
  let app: FastifyInstance;
  let port: number;
  let key: string;
  const base = () => `http://127.0.0.1:${port}`;

  beforeAll(async () => {
    conn = await open();
    await addTenant(conn.db, { id: 'acme', name: 'Acme', timezone: 'Europe/Prague', currency: 'EUR' });
    key = await createApiKey(conn.db, 'acme');
    app = buildServer({
      db: conn.db,
      logger: pino({ level: 'silent' }),
      serialize: name === 'embedded',
      timeouts: TIMEOUTS,
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await app?.close();
    await conn?.close();
  });

  it('a body that never finishes is cut at the request timeout, and meanwhile health and ingest answer', async () => {
    const slowUnknown = await rawClient(port);
    slowUnknown.socket.write(
      'POST /no/such/route HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"events":[',
    );
    const slowIngest = await rawClient(port);
    slowIngest.socket.write(
      `POST /v1/login-events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"events":[`,
    );
    // While both bodies hang: health and a whole ingest request answer.
    for (let i = 0; i < 3; i++) {
      const health = await fetch(`${base()}/healthz`, { signal: AbortSignal.timeout(5_000) });
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: 'ok' });
    }
    const ingest = await fetch(`${base()}/v1/login-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [{ eventId: 'e-1', tenantId: 'acme', userId: 'u-1', occurredAt: '2026-11-19T10:00:00Z' }],
      }),
      signal: AbortSignal.timeout(5_000),
    });
    expect(ingest.status).toBe(200);
    expect(await ingest.json()).toMatchObject({ accepted: 1 });
    // ...and they answered while both slow requests were still hanging, not after they were cut.
    expect([slowUnknown.isOpen(), slowIngest.isOpen()]).toEqual([true, true]);

    // The server closes both connections once the request timeout has passed, with a 408.
    for (const slow of [slowUnknown, slowIngest]) {
      const after = await slow.closed;
      expect(after).toBeGreaterThanOrEqual(TIMEOUTS.requestMs - 100);
      expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
    }
    const stored = await conn.db.selectFrom('login_events').select('event_id').execute();
    expect(stored.map((r) => r.event_id)).toEqual(['e-1']);
    expect((await fetch(`${base()}/healthz`)).status).toBe(200);
  });

  it('headers that never finish are cut at the headers timeout', async () => {
    const slow = await rawClient(port);
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const after = await slow.closed;
    expect(after).toBeGreaterThanOrEqual(TIMEOUTS.headersMs - 100);
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const client = await rawClient(port);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n');
    const after = await client.closed;
    // Closed by the keep-alive timer, not by the (longer) idle-socket one.
    expect(after).toBeLessThan(TIMEOUTS.idleMs);
    expect(client.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(client.received()).toMatch(/keep-alive: timeout=\d+/i);
  });
});
