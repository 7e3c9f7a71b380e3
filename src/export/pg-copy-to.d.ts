// The COPY TO side of pg-copy-streams 7 (which ships no types), declared by hand beside the
// COPY FROM side in src/ingest/pg-copy-streams.d.ts; the two declarations merge.
declare module 'pg-copy-streams' {
  import type { Readable } from 'node:stream';

  /** `COPY ... TO STDOUT` as a readable stream of the server's raw COPY data. */
  export function to(text: string): Readable & { rowCount: number; submit(connection: unknown): void };
}
