// pg-copy-streams 7 ships no types and @types/pg-copy-streams (1.2.x) targets older releases:
// the one function used here, declared by hand.
declare module 'pg-copy-streams' {
  import type { Writable } from 'node:stream';

  /** `COPY ... FROM STDIN` as a writable stream; pass it to pg's `client.query` to run it. */
  export function from(text: string): Writable & { rowCount: number; submit(connection: unknown): void };
}
