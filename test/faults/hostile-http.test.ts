import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/services.ts';
import {
  type BatchResponse,
  countRows,
  makeEvents,
  type Stack,
  seedTenant,
  startServe,
  startStack,
} from './support/stack.ts';

const REQUEST_TIMEOUT_MS = 2_000;

/** A POST from a chosen loopback source address (Linux routes all of 127/8 to lo). */
function postFrom(
  localAddress: string,
  url: string,
  key: string,
  body: unknown,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        localAddress,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

describe('hostile HTTP clients against billing serve (PostgreSQL)', () => {
  let stack: Stack;
  let serve: Awaited<ReturnType<typeof startServe>>;
  let key: string;
  let metricsBase: string;
  let sent = 0;
  let judged = 0;

  const postBatch = async (events: unknown[]) => {
    const res = await fetch(`${serve.base}/v1/login-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as BatchResponse;
    sent += events.length;
    judged += body.accepted + body.duplicates + body.rejected.length;
    return body;
  };

  beforeAll(async () => {
    stack = await startStack();
    key = await seedTenant(stack.db, 'acme');
    const metricsPort = await freePort();
    serve = await startServe({
      ...stack.env,
      LOG_LEVEL: 'warn',
      BILLING_HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      BILLING_HTTP_HEADERS_TIMEOUT_MS: '1000',
      BILLING_METRICS_PORT: String(metricsPort),
      BILLING_METRICS_REFRESH_MS: '500',
    });
    metricsBase = `http://127.0.0.1:${metricsPort}`;
  });
  afterAll(async () => {
    await serve?.stop();
    await stack?.stop();
  });

  it('slow body: health and ingest answer meanwhile; the connection is closed at the request timeout', async () => {
    const opened = Date.now();
    const socket = connect(serve.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8').on('data', (d: string) => (received += d));
    socket.on('error', () => {});
    const closed = new Promise<number>((r) => socket.on('close', () => r(Date.now() - opened)));
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.write(
      `POST /v1/login-events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nContent-Length: 50000\r\n\r\n{"events":[`,
    );
    let open = true;
    void closed.then(() => {
      open = false;
    });
    expect((await fetch(`${serve.base}/healthz`, { signal: AbortSignal.timeout(5_000) })).status).toBe(200);
    const good = await postBatch(makeEvents('acme', 0, 20, 5));
    expect(good.accepted).toBe(20);
    expect(open).toBe(true);
    // Cut by the server (408), not hanging for minutes.
    const after = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 30_000))]);
    expect(after).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(serve.child.exitCode).toBeNull();
  });

  it('failed-auth flood: throttled with 429 + Retry-After; a good key still works, nothing of the flood stored', async () => {
    const before = await countRows(stack.db);
    const flood = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        fetch(`${serve.base}/v1/login-events`, {
          method: 'POST',
          headers: { authorization: `Bearer bk_guess${i}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events: makeEvents('acme', 100 + i, 1, 1) }),
        }).then(async (r) => ({
          status: r.status,
          retryAfter: r.headers.get('retry-after'),
          text: await r.text(),
        })),
      ),
    );
    const statuses = flood.map((r) => r.status);
    // The burst is 10 failures (one more comes back every 6 s).
    const refused = statuses.filter((s) => s === 401).length;
    expect(refused).toBeGreaterThanOrEqual(10);
    expect(refused).toBeLessThanOrEqual(11);
    expect(statuses.filter((s) => s === 429)).toHaveLength(40 - refused);
    for (const r of flood.filter((x) => x.status === 429))
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
    // The same client with its good key, and another client, are served.
    const same = await postBatch(makeEvents('acme', 1, 10, 5));
    expect(same.accepted).toBe(10);
    const other = await postFrom('127.0.0.2', `${serve.base}/v1/login-events`, key, {
      events: makeEvents('acme', 2, 10, 5),
    });
    expect(other.status).toBe(200);
    const otherBody = JSON.parse(other.body) as BatchResponse;
    sent += 10;
    judged += otherBody.accepted + otherBody.duplicates + otherBody.rejected.length;
    expect(otherBody.accepted).toBe(10);
    // Another client's wrong key is its own bucket: 401, not 429.
    expect(
      (await postFrom('127.0.0.3', `${serve.base}/v1/login-events`, 'bk_other', { events: [] })).status,
    ).toBe(401);
    const after = await countRows(stack.db);
    expect(after.events - before.events).toBe(20);
    expect(after.rejects).toBe(before.rejects);
  });

  it('no tenant ids on the public port; the status port has the metrics, refreshed by its timer', async () => {
    const pub = await fetch(`${serve.base}/metrics`);
    expect(pub.status).toBe(404);
    expect(await pub.text()).not.toContain('acme');
    const health = await fetch(`${serve.base}/healthz`);
    expect(await health.json()).toEqual({ status: 'ok' });
    const text = await (await fetch(`${metricsBase}/metrics`)).text();
    expect(text).toMatch(
      /^billing_ingest_events_total\{source="http",tenant="acme",outcome="accepted"\} 40$/m,
    );
    expect(text).toMatch(/^billing_metrics_refreshes_total\{metric="billing_lag_days",outcome="ok"\} [1-9]/m);
  });

  it('the database down: /healthz says only "unavailable", the cause goes to the log', async () => {
    stack.postgres.kill();
    try {
      await new Promise((r) => setTimeout(r, 500));
      const res = await fetch(`${serve.base}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(res.status).toBe(503);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ status: 'unavailable' });
      expect(text).not.toMatch(/ECONN|127\.0\.0\.1|\d{4,5}/);
      expect(serve.stderr()).toContain('health check failed');
    } finally {
      await stack.postgres.start();
    }
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await fetch(`${serve.base}/healthz`)).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    expect(status).toBe(200);
    expect(judged).toBe(sent);
    let rows = await countRows(stack.db).catch(() => undefined); // a pooled connection may have died
    rows ??= await countRows(stack.db);
    expect(rows.events).toBe(40);
    console.log(`[fault] hostile HTTP: ${sent} good events sent, ${rows.events} stored, flood throttled`);
  });
});
