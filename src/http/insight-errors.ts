import type { FastifyReply } from 'fastify';
import type { ZodError } from 'zod';
import { describeZodError } from '../domain/settings.ts';
import { InputError } from '../errors.ts';
import { httpStatusOf } from '../insight/errors.ts';

/** Answers an insight service's bad-input error (400, or 404 for what does not exist); rethrows others. */
export function replyInsightError(reply: FastifyReply, error: unknown): FastifyReply {
  if (error instanceof InputError) return reply.code(httpStatusOf(error)).send({ error: error.message });
  throw error;
}

/** 400 for a query string or path that fails its schema, naming the field. */
export function replyBadRequest(reply: FastifyReply, where: string, error: ZodError): FastifyReply {
  return reply.code(400).send({ error: `${where}: ${describeZodError(error)}` });
}
