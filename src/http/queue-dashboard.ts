import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { requireBasicAuth } from './basic-auth.ts';

export const DASHBOARD_PATH = '/admin/queues';

export interface QueueDashboardOptions {
  queues: readonly Queue[];
  user: string;
  password: string;
}

/**
 * Mounts bull-board at `/admin/queues`, every route of it (page, assets, API) behind HTTP Basic
 * auth. Registered in its own encapsulated context, so the auth hook, JSON body parsing (the API
 * reads JSON bodies; the ingest routes read raw text) and bull-board's error handler apply to the
 * dashboard only. Call before `listen`.
 */
export async function registerQueueDashboard(
  app: FastifyInstance,
  options: QueueDashboardOptions,
): Promise<void> {
  if (options.password === '') throw new Error('the queue dashboard needs a password');
  const adapter = new FastifyAdapter();
  adapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: options.queues.map((q) => new BullMQAdapter(q)), serverAdapter: adapter });
  await app.register(async (scope) => {
    scope.addHook('onRequest', requireBasicAuth(options.user, options.password));
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
      try {
        done(null, body === '' ? {} : JSON.parse(body as string));
      } catch (error) {
        done(Object.assign(error as Error, { statusCode: 400 }), undefined);
      }
    });
    await scope.register(adapter.registerPlugin(), { prefix: DASHBOARD_PATH });
  });
}
