import type { Logger } from '../logger.ts';

/**
 * A long-running process (`serve`, `worker`) must outlive a Redis or database outage: pg,
 * ioredis and BullMQ recover by themselves, so a stray rejection from them is logged rather than
 * allowed to end the process (Node's default). Request and job failures never get here: fastify
 * answers them and BullMQ turns them into failed attempts.
 */
export function keepRunningOnStrayRejections(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled rejection (ignored: the process keeps running)');
  });
}
