import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PartTotals } from '../../src/db/copy-part-totals.ts';
import {
  CopyRowsOut,
  ROW_END_BYTES,
  type RowEndHook,
  type RowFormatter,
} from '../../src/db/copy-rows-out.ts';
import { csvRecord } from '../../src/export/csv.ts';

/** Values COPY's CSV writer must quote (or not) exactly as `csvCell` does, '' written as NULL. */
const HOSTILE = [
  'plain',
  '"',
  'a"b',
  ',',
  '\r',
  '\n',
  '\r\n',
  'x\r\ny',
  ' sp ',
  '',
  'é😀ｚ',
  '\\.',
  '\\N',
  'x'.repeat(70_000),
];

/** `COPY (SELECT nullif(v, ''), i FROM unnest(…)) TO STDOUT (FORMAT csv)` of HOSTILE, in order. */
const hostileArray = `{${HOSTILE.map((v) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`;
const hostileCopy = `COPY (SELECT nullif(v, ''), i FROM unnest($lit$${hostileArray}$lit$::text[]) WITH ORDINALITY AS t(v, i) ORDER BY i) TO STDOUT (FORMAT csv)`;
const hostileExpected = HOSTILE.map((v, i) => csvRecord([v, String(i + 1)])).join('');

describe('CopyRowsOut (COPY TO STDOUT off the socket, rows ended by rowEnd)', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: inject('pgAdminUrl') });
    await client.connect();
  });
  afterAll(async () => client?.end());

  async function copy(text: string, blockBytes?: number) {
    const out = new CopyRowsOut(text, { rowEnd: '\r\n', ...(blockBytes ? { blockBytes } : {}) });
    client.query(out as unknown as string);
    const blocks: Buffer[] = [];
    for await (const block of out.blocks()) blocks.push(Buffer.from(block));
    return { blocks, text: Buffer.concat(blocks).toString('utf8'), rows: out.rows };
  }

  it('gives the rows with CRLF ends, quoted as csvCell quotes, whatever the block size', async () => {
    for (const blockBytes of [undefined, 3, 7, 1000]) {
      const got = await copy(hostileCopy, blockBytes);
      expect(got.text).toBe(hostileExpected);
      expect(got.rows).toBe(HOSTILE.length);
      if (blockBytes) expect(got.blocks.slice(0, -1).every((b) => b.length === blockBytes)).toBe(true);
    }
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('gives many rows in order, and nothing for none', async () => {
    const got = await copy(
      'COPY (SELECT i, md5(i::text) FROM generate_series(1, 20000) i) TO STDOUT (FORMAT csv)',
      4096,
    );
    const lines = got.text.split('\r\n');
    expect(lines).toHaveLength(20001);
    expect(lines[19999]).toMatch(/^20000,[0-9a-f]{32}$/);
    expect(await copy('COPY (SELECT 1 WHERE false) TO STDOUT (FORMAT csv)')).toEqual({
      blocks: [],
      text: '',
      rows: 0,
    });
  });

  it('fills released blocks again (a shared spare list across COPYs), the rows unchanged', async () => {
    // Blocks larger than a socket read (64 kB), as the export's are: a read completes one at most.
    const blockBytes = 100_000;
    const spare: Buffer[] = [];
    const text = 'COPY (SELECT i, md5(i::text) FROM generate_series(1, 100000) i) TO STDOUT (FORMAT csv)';
    const memory = new Set<ArrayBufferLike>();
    let whole = 0;
    for (const round of [1, 2]) {
      const out = new CopyRowsOut(text, { rowEnd: '\r\n', blockBytes, spare });
      client.query(out as unknown as string);
      const copies: Buffer[] = [];
      for await (const block of out.blocks()) {
        // A copy first: a released block's bytes are overwritten by a later one's.
        copies.push(Buffer.from(block));
        memory.add(block.buffer);
        if (block.length === blockBytes) whole += 1;
        out.release(block);
      }
      const lines = Buffer.concat(copies).toString('utf8').split('\r\n');
      expect(lines, `round ${round}`).toHaveLength(100001);
      expect(lines[0]).toMatch(/^1,[0-9a-f]{32}$/);
      expect(lines[99999]).toMatch(/^100000,[0-9a-f]{32}$/);
      expect(new Set(lines.slice(0, -1)).size).toBe(100000);
    }
    // ~2 x 40 whole blocks in the memory of two: the one being filled and the one released.
    expect(whole).toBeGreaterThan(70);
    expect(memory.size).toBeLessThanOrEqual(3);
    // Blocks never released are never reused; a block of another size is not kept.
    const kept = new CopyRowsOut(text, { rowEnd: '\r\n', blockBytes, spare: [] });
    kept.release(Buffer.alloc(100));
    client.query(kept as unknown as string);
    const held = new Set<ArrayBufferLike>();
    let blocks = 0;
    for await (const block of kept.blocks()) {
      held.add(block.buffer);
      blocks += 1;
    }
    expect(held.size).toBe(blocks);
  });

  it("throws the server's error from the middle of a COPY, and the connection works on", async () => {
    const failing = 'COPY (SELECT 1 / (5000 - i) FROM generate_series(1, 10000) i) TO STDOUT (FORMAT csv)';
    await expect(copy(failing, 64)).rejects.toThrow(/division by zero/);
    expect((await client.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
  });

  it('reads the rest and drops it when the consumer stops early, and the connection works on', async () => {
    const out = new CopyRowsOut('COPY (SELECT i FROM generate_series(1, 50000) i) TO STDOUT (FORMAT csv)', {
      rowEnd: '\r\n',
      blockBytes: 100,
    });
    client.query(out as unknown as string);
    for await (const block of out.blocks()) {
      expect(block.toString('latin1')).toMatch(/^1\r\n2\r\n/);
      break;
    }
    expect(out.rows).toBe(50000);
    expect((await client.query('SELECT 3 AS three')).rows).toEqual([{ three: 3 }]);
  });
});

describe('CopyRowsOut on a scripted socket (every chunk boundary)', () => {
  /** The server's side of a COPY TO: CopyOutResponse, one CopyData per row, a notice, CopyDone. */
  function serverBytes(rows: readonly string[]): Buffer {
    const message = (code: string, payload: Buffer) => {
      const head = Buffer.alloc(5);
      head.write(code, 0, 'latin1');
      head.writeUInt32BE(payload.length + 4, 1);
      return Buffer.concat([head, payload]);
    };
    return Buffer.concat([
      message('H', Buffer.from([0, 0, 0])),
      ...rows.slice(0, 1).map((r) => message('d', Buffer.from(r, 'utf8'))),
      message('N', Buffer.from('notice\0\0', 'latin1')),
      ...rows.slice(1).map((r) => message('d', Buffer.from(r, 'utf8'))),
      message('c', Buffer.alloc(0)),
      message('C', Buffer.from('COPY 3\0', 'latin1')),
    ]);
  }

  /** Runs a CopyRowsOut over `bytes` cut at `cuts`; returns its output and what pg got back. */
  const seen = { destroyed: 0 };

  async function run(
    bytes: Buffer,
    cuts: readonly number[],
    blockBytes: number,
    onRowEnd?: RowEndHook,
    formatRow?: RowFormatter,
  ) {
    const chunks: Buffer[] = [];
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      if (cut > from) chunks.push(bytes.subarray(from, cut));
      from = Math.max(from, cut);
    }
    const handedBack: Buffer[] = [];
    let destroyed = 0;
    const ends: string[] = [];
    const out = new CopyRowsOut('COPY …', {
      rowEnd: '\r\n',
      blockBytes,
      ...(formatRow
        ? { formatRow }
        : {
            onRowEnd: (b: Buffer, from: number, to: number) => {
              ends.push(b.toString('utf8', from, to));
              onRowEnd?.(b, from, to);
            },
          }),
    });
    let pgOnData = (b: Buffer) => {
      handedBack.push(b);
    };
    const stream = {
      listeners: () => [pgOnData],
      removeListener() {},
      pause() {},
      on(event: string, fn: (b: Buffer) => void) {
        if (event === 'data') pgOnData = fn;
        // pg would parse CommandComplete + ReadyForQuery from what it got back; here: done.
        if (event === 'data') {
          const rest = chunks.splice(0);
          setImmediate(() => {
            for (const c of rest) pgOnData(c);
            out.handleReadyForQuery();
          });
        }
      },
      resume() {},
      destroy() {
        destroyed += 1;
      },
      read: () => chunks.shift() ?? null,
    };
    out.submit({ stream, query() {} } as never);
    const blocks: Buffer[] = [];
    try {
      for await (const b of out.blocks()) blocks.push(Buffer.from(b));
    } finally {
      seen.destroyed = destroyed;
    }
    return {
      text: Buffer.concat(blocks).toString('utf8'),
      rows: out.rows,
      handedBack: Buffer.concat(handedBack),
      ends,
    };
  }

  it('gives the same rows and hands pg the same rest, cut anywhere', async () => {
    const rows = ['a,"b\nc"\n', 'é😀,""""\n', '\n'];
    const bytes = serverBytes(rows);
    const tail = bytes.subarray(bytes.length - 12); // CommandComplete
    for (let a = 0; a <= bytes.length; a++)
      for (let b = a; b <= bytes.length; b += 3) {
        const got = await run(bytes, [a, b], 5);
        expect(got.text).toBe('a,"b\nc"\r\né😀,""""\r\n\r\n');
        expect(got.rows).toBe(3);
        expect(got.handedBack.equals(tail)).toBe(true);
      }
  });

  it("shows onRowEnd each row's last bytes (LF left out), cut anywhere", async () => {
    const long = `${'y'.repeat(90)},"q,\n"`;
    const rows = ['ab,c\n', `${long}\n`, '\n', 'é😀\n'];
    const bytes = serverBytes(rows);
    const lastBytes = (r: string) => {
      const b = Buffer.from(r.slice(0, -1), 'utf8');
      return b.subarray(Math.max(0, b.length - ROW_END_BYTES)).toString('utf8');
    };
    for (let a = 0; a <= bytes.length; a += 2)
      for (let b = a; b <= bytes.length; b += 7) {
        const got = await run(bytes, [a, b], 16);
        expect(got.ends).toEqual(rows.map(lastBytes));
      }
    // The long row over many chunks (a cut every `step` bytes).
    for (const step of [1, 5, 13]) {
      const cuts = Array.from({ length: Math.ceil(bytes.length / step) }, (_, i) => i * step);
      expect((await run(bytes, cuts, 16)).ends).toEqual(rows.map(lastBytes));
    }
  });

  it('writes the money cells of invoice records in major units and adds them up per currency (PartTotals)', async () => {
    const record = (name: string, price: string, amount: string, currency: string) =>
      `2026-11,t,u,${name},,license.a,monthly,1,${price},${amount},${currency},2026-11-01,2026-11-30`;
    // name, unit price and amount as COPY sends them (minor units), currency, then as written.
    const cases: [string, string, string, string, string, string][] = [
      ['"x,\ny"', '100', '-32', 'EUR', '1.00', '-0.32'],
      ['z'.repeat(200), '5', '1205', 'EUR', '0.05', '12.05'],
      ['', '', '7', 'JPY', '', '7'],
      ['k', '-1', '1234567', 'KWD', '-0.001', '1234.567'],
      ['k', '0', '0', 'EUR', '0.00', '0.00'],
      ['k', '99', '-5', 'EUR', '0.99', '-0.05'],
    ];
    const rows = cases.map(([name, price, amount, currency]) => record(name, price, amount, currency));
    const written = cases.map(([name, , , currency, price, amount]) => record(name, price, amount, currency));
    const digits = new Map([
      ['EUR', 2],
      ['JPY', 0],
      ['KWD', 3],
    ]);
    for (const cuts of [[], [0], [50], [131], [200], [333], [17, 18, 19, 20, 21, 400]]) {
      const totals = new PartTotals([...digits.keys()], (c) => digits.get(c) as number);
      const got = await run(serverBytes(rows.map((r) => `${r}\n`)), cuts, 64, undefined, totals.format);
      expect(got.text).toBe(written.map((r) => `${r}\r\n`).join(''));
      expect(got.rows).toBe(rows.length);
      expect(totals.totals()).toEqual([
        { currency: 'EUR', rows: 4, amount: 1168 },
        { currency: 'JPY', rows: 1, amount: 7 },
        { currency: 'KWD', rows: 1, amount: 1234567 },
      ]);
    }
    // Anything but the expected last five cells is refused, never guessed at.
    for (const bad of [
      record('n', '1', '1.50', 'EUR'),
      record('n', '1', '150', 'USD'),
      record('n', '1.0', '150', 'EUR'),
      record('n', '1', '', 'EUR'),
      record('n', '1', '--100', 'EUR'),
      record('n', '1', '99999999999999999999', 'EUR'),
      'a,b',
    ]) {
      const totals = new PartTotals([...digits.keys()], (c) => digits.get(c) as number);
      await expect(run(serverBytes([`${bad}\n`]), [], 64, undefined, totals.format)).rejects.toThrow(
        /does not end with unit_price,amount/,
      );
    }
  });

  it('refuses a row that does not end with LF and drops the connection', async () => {
    await expect(run(serverBytes(['a,b']), [], 64)).rejects.toThrow(/does not end with LF/);
    expect(seen.destroyed).toBe(1);
  });
});
