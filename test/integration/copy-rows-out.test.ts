import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CopyRowsOut } from '../../src/db/copy-rows-out.ts';
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
