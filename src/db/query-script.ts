import { CompiledQuery } from 'kysely';
import pg from 'pg';
import type { Db } from './database.ts';

/*
 * Several statements in ONE simple-protocol Query message (real PostgreSQL only): the server runs
 * them one after the other without waiting for us, so a transaction of n statements costs one
 * round trip instead of n (each round trip holds the transaction open while Node is busy:
 * docs/performance/settings.md). Each statement still takes its own snapshot (READ COMMITTED), in
 * order, so a statement placed after a lock reads what committed before the lock was granted.
 * Simple protocol has no parameters: values go in as literals (`textArrayLiteral`). A COPY ...
 * FROM STDIN of the script is fed the next of `copies` when the server asks for it. An error
 * stops the script where it happens (PostgreSQL drops the rest of the message); the caller then
 * rolls back.
 */

/** One statement's result: its command tag and its rows as text (NULL as null), in column order. */
export interface ScriptResult {
  command: string;
  rows: (string | null)[][];
}

/** What pg calls on a query object it runs (`Client.query` runs anything with `submit`). */
interface PgConnection {
  query(text: string): void;
  stream: { write(chunk: Buffer): boolean };
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

class QueryScript {
  readonly results: ScriptResult[] = [];
  readonly done: Promise<ScriptResult[]>;
  #rows: (string | null)[][] = [];
  #nextCopy = 0;
  #settle!: { resolve: (r: ScriptResult[]) => void; reject: (e: unknown) => void };

  constructor(
    readonly text: string,
    readonly copies: readonly Buffer[],
  ) {
    this.done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
  }

  submit(connection: PgConnection): void {
    connection.query(this.text);
  }

  handleRowDescription(): void {
    this.#rows = [];
  }

  handleDataRow(msg: { fields: (string | null)[] }): void {
    this.#rows.push(msg.fields);
  }

  handleCommandComplete(msg: { text: string }): void {
    this.results.push({ command: msg.text, rows: this.#rows });
    this.#rows = [];
  }

  handleEmptyQuery(): void {}

  handleCopyInResponse(connection: PgConnection): void {
    const data = this.copies[this.#nextCopy++];
    if (data === undefined) {
      connection.sendCopyFail('the script has no data for this COPY');
      return;
    }
    if (data.length > 0) {
      // The message's header, then the payload as it is (pg's `sendCopyFromChunk` would first
      // copy a batch's megabyte into a buffer of its own: pg-copy-streams writes it this way too).
      const header = Buffer.allocUnsafe(5);
      header[0] = 0x64; // 'd', CopyData
      header.writeUInt32BE(data.length + 4, 1);
      connection.stream.write(header);
      connection.stream.write(data);
    }
    connection.endCopyFrom();
  }

  handleCopyData(): void {}

  handlePortalSuspended(): void {}

  /** pg forgets the query after an error (the ReadyForQuery that follows is not ours). */
  handleError(error: unknown): void {
    this.#settle.reject(error);
  }

  handleReadyForQuery(): void {
    if (this.#nextCopy !== this.copies.length) {
      this.#settle.reject(
        new Error(`the script used ${this.#nextCopy} of its ${this.copies.length} COPY payloads`),
      );
      return;
    }
    this.#settle.resolve(this.results);
  }
}

/**
 * Runs `statements` as one Query message on `db`'s connection (a transaction or a connection
 * handle: the same connection must run what follows). Results come in statement order (a
 * statement without a result, `BEGIN` say, has its tag and no rows).
 */
export async function runScript(
  db: Db,
  statements: readonly string[],
  copies: readonly Buffer[] = [],
): Promise<ScriptResult[]> {
  const script = new QueryScript(statements.map((s) => `${s};`).join('\n'), copies);
  // pg runs an object with `submit` as it is (as for pg-copy-streams' streams).
  await db.executeQuery({ ...CompiledQuery.raw(''), sql: script as unknown as string });
  return script.done;
}

/**
 * A text array as an SQL literal (`'{"a","b"}'`, quoted for the simple protocol): each element
 * double-quoted with its `\` and `"` escaped, the whole escaped as a string literal by pg. Refuses
 * NUL, which no PostgreSQL text holds and which would end the Query message's text early.
 */
export function textArrayLiteral(values: readonly string[]): string {
  const elements = values.map((v) => {
    if (v.includes('\u0000')) throw new Error('a text value with NUL cannot be written as a literal');
    return `"${v.replace(/[\\"]/g, '\\$&')}"`;
  });
  return pg.escapeLiteral(`{${elements.join(',')}}`);
}
