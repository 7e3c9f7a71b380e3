import { UnrecoverableError } from 'bullmq';
import type { z } from 'zod';

/**
 * Parses a job's payload; a payload that does not match can never succeed, so it fails the job
 * at once (no retries) with a message naming the job and every bad field.
 */
export function parsePayload<S extends z.ZodType>(
  schema: S,
  job: { id?: string; name: string; data: unknown },
): z.infer<S> {
  const result = schema.safeParse(job.data);
  if (result.success) return result.data;
  const issues = result.error.issues
    .map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`)
    .join('; ');
  throw new UnrecoverableError(`job ${job.name} ${job.id ?? ''} has a bad payload: ${issues}`);
}
