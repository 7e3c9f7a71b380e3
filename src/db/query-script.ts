import { CompiledQuery } from 'kysely';
import type { Db } from './database.ts';
import pg from './pg-driver.ts';

/*
 * Several statements in ONE simple-protocol Query message (real PostgreSQL only): the server runs
 * them one after the other without waiting for us, so a transaction of n statements costs one
 * round trip instead of n (each round trip holds the transaction open while Node is busy:
 * docs/performance/settings.md). Each statement still takes its own snapshot (READ COMMITTED), in
 * order, so a statement placed after a lock reads what committed before the lock was granted.
 * Simple protocol has no parameters: values go in as literals (`inlineParameters`). A COPY ...
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
    readonly pipelined: boolean,
  ) {
    this.done = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
  }

  submit(connection: PgConnection): void {
    connection.query(this.text);
    if (this.pipelined) for (const data of this.copies) sendCopyData(connection, data);
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
    // Sent with the script already: the server reads it from the socket, no round trip.
    if (!this.pipelined) sendCopyData(connection, data);
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
 * A COPY's payload as one CopyData message (its header, then the payload as it is: pg's
 * `sendCopyFromChunk` would first copy a batch's megabyte into a buffer of its own;
 * pg-copy-streams writes it this way too), then CopyDone.
 */
function sendCopyData(connection: PgConnection, data: Buffer): void {
  if (data.length > 0) {
    const header = Buffer.allocUnsafe(5);
    header[0] = 0x64; // 'd', CopyData
    header.writeUInt32BE(data.length + 4, 1);
    connection.stream.write(header);
    connection.stream.write(data);
  }
  connection.endCopyFrom();
}

/**
 * Runs `statements` as one Query message on `db`'s connection (a transaction or a connection
 * handle: the same connection must run what follows). Results come in statement order (a
 * statement without a result, `BEGIN` say, has its tag and no rows).
 *
 * `pipelined`: the COPY payloads are written right behind the Query message instead of when the
 * server asks for each (CopyInResponse), so the script runs to its end without waiting for Node
 * (a COPY's round trip waited for Node's event loop, busy parsing, while the transaction held
 * its locks). The protocol allows it: the server reads a COPY's data from the socket when it gets
 * there, and if the script stops before a COPY or inside one (an error ends the message's
 * statements) it drops the CopyData and CopyDone messages still coming: its main loop accepts and
 * ignores them outside a COPY, for a frontend still sending data after a failure (PostgreSQL's
 * protocol documentation, COPY Operations). The payloads must be one per COPY of the script.
 */
export async function runScript(
  db: Db,
  statements: readonly string[],
  copies: readonly Buffer[] = [],
  pipelined = false,
): Promise<ScriptResult[]> {
  const script = new QueryScript(statements.map((s) => `${s};`).join('\n'), copies, pipelined);
  // pg runs an object with `submit` as it is (as for pg-copy-streams' streams).
  await db.executeQuery({ ...CompiledQuery.raw(''), sql: script as unknown as string });
  return script.done;
}

/**
 * A compiled statement with its parameters written as literals, for what takes no bind
 * parameters (COPY, a simple-protocol script). `null` becomes NULL, a finite number its digits,
 * a Date its ISO instant, an array ONE array literal (`'{"a","b"}'`: the statement casts it, as
 * it casts its parameters; PostgreSQL parses it ~5x faster than an `ARRAY[...]` of 4,000
 * constants), anything else a string literal escaped by pg (`escapeLiteral`: quotes doubled, and `E''` with backslashes doubled when
 * there are any, right whatever `standard_conforming_strings` says). Refuses NUL, which no
 * PostgreSQL text holds and which would end a Query message's text early.
 */
export function inlineParameters(text: string, parameters: readonly unknown[]): string {
  return text.replace(/\$(\d+)\b/g, (_, n: string) => sqlLiteral(parameters[Number(n) - 1]));
}

function sqlLiteral(value: unknown): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  // A Date's own String() is not a form PostgreSQL reads back exactly; its ISO form is.
  if (value instanceof Date) return quoted(value.toISOString());
  if (Array.isArray(value)) return quoted(`{${value.map(arrayElement).join(',')}}`);
  return quoted(String(value));
}

/** An element of an array literal: NULL bare, anything else double-quoted with `\` and `"` escaped. */
const arrayElement = (value: unknown): string =>
  value === null ? 'NULL' : `"${String(value).replace(/[\\"]/g, '\\$&')}"`;

function quoted(text: string): string {
  if (text.includes('\u0000')) throw new Error('a value with NUL cannot be written as a literal');
  return pg.escapeLiteral(text);
}
