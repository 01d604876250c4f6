import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { InvalidOptionError } from '../../errors/index.js';
import { createTestDatabase, postgresForTests } from '../../../test/helpers/services.js';
import { copyRows } from './bulk-insert.js';
import { binaryCopyChunks, binaryEncoders } from './copy-binary.js';

const encode = (types: string[], rows: unknown[][], chunkBytes?: number): Buffer =>
  Buffer.concat([...binaryCopyChunks(rows, binaryEncoders(types), chunkBytes)]);

describe('binary COPY encoding', () => {
  test('writes the signature, each field length-prefixed, NULL as -1 and the trailer', () => {
    const out = encode(['int', 'text'], [[7, null]]);
    assert.equal(out.subarray(0, 11).toString('latin1'), 'PGCOPY\n\xff\r\n\0');
    assert.equal(out.readInt32BE(11), 0, 'flags');
    assert.equal(out.readInt32BE(15), 0, 'header extension');
    assert.equal(out.readInt16BE(19), 2, 'field count');
    assert.equal(out.readInt32BE(21), 4);
    assert.equal(out.readInt32BE(25), 7);
    assert.equal(out.readInt32BE(29), -1, 'NULL');
    assert.equal(out.readInt16BE(33), -1, 'trailer');
    assert.equal(out.length, 35);
  });

  test('writes bigints exactly, negative ones and strings of digits included', () => {
    const values = [0, -1, 2 ** 40 + 5, -(2 ** 52) - 3, 9007199254740993n, '-9223372036854775808'];
    const out = encode(
      ['bigint'],
      values.map((v) => [v]),
    );
    const read: bigint[] = [];
    for (let i = 0, at = 19; i < values.length; i++, at += 2 + 4 + 8) {
      read.push(out.readBigInt64BE(at + 6));
    }
    assert.deepEqual(read, [
      0n,
      -1n,
      2n ** 40n + 5n,
      -(2n ** 52n) - 3n,
      9007199254740993n,
      -(2n ** 63n),
    ]);
  });

  test('splits rows into chunks of about the asked size, the same bytes once joined', () => {
    const rows = Array.from({ length: 500 }, (_, i) => [i, `label ${i}`]);
    const chunks = [...binaryCopyChunks(rows, binaryEncoders(['int4', 'varchar(40)']), 1024)];
    assert.ok(chunks.length > 5);
    assert.ok(chunks.slice(0, -1).every((c) => c.length >= 1024 && c.length < 1100));
    assert.deepEqual(Buffer.concat(chunks), encode(['int4', 'varchar(40)'], rows));
  });

  test('refuses an unsupported type up front and a value its type cannot hold', () => {
    assert.throws(
      () => binaryEncoders(['numeric']),
      (error: unknown) => {
        assert.ok(error instanceof InvalidOptionError);
        assert.match(error.message, /binary COPY cannot write numeric/);
        return true;
      },
    );
    assert.throws(() => encode(['int'], [[1.5]]), /cannot write 1.5 as integer/);
    assert.throws(() => encode(['smallint'], [[40000]]), /as smallint/);
    assert.throws(() => encode(['uuid'], [['not-a-uuid']]), /as uuid/);
    assert.throws(() => encode(['timestamptz'], [['yesterday-ish']]), /as timestamptz/);
  });
});

const server = await postgresForTests();

describe('binary COPY on PostgreSQL', { skip: server.skip }, () => {
  let db: { url: string; drop: () => Promise<void> };
  let pool: pg.Pool;
  const columns = ['i2', 'i4', 'i8', 'f4', 'f8', 'b', 't', 'j', 'jb', 'u', 'by', 'ts'];
  const types = [
    'smallint',
    'integer',
    'bigint',
    'real',
    'double precision',
    'boolean',
    'text',
    'json',
    'jsonb',
    'uuid',
    'bytea',
    'timestamptz',
  ];
  before(async () => {
    db = await createTestDatabase(server.url);
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const defs = columns.map((c, i) => `${c} ${types[i]}`).join(', ');
    await pool.query(`CREATE TABLE typed_text (n int PRIMARY KEY, ${defs})`);
    await pool.query(`CREATE TABLE typed_binary (n int PRIMARY KEY, ${defs})`);
  });
  after(async () => {
    await pool?.end();
    await db?.drop();
  });

  const copy = async (table: string, format: 'text' | 'binary', rows: unknown[][]) => {
    const client = await pool.connect();
    try {
      return await copyRows(client, {
        table,
        columns: ['n', ...columns],
        types: ['int', ...types],
        format,
        rows,
      });
    } finally {
      client.release();
    }
  };

  test('stores every supported type exactly as the text format does, across chunks', async () => {
    const rows = Array.from({ length: 3000 }, (_, n) => [
      n,
      n % 2 === 0 ? -n : n,
      n * 100_000,
      n === 7 ? null : 2 ** 40 + n,
      n / 4,
      n === 1 ? Number.POSITIVE_INFINITY : n / 3,
      n % 3 === 0,
      `row ${n}: tab\there, newline\nthere, backslash \\, ünïcödé ✓`,
      { n, list: [1, 2] },
      { nested: { n } },
      `0000000${n % 10}-0000-4000-8000-${String(n).padStart(12, '0')}`,
      Buffer.from([n % 256, 0, 255]),
      new Date(Date.UTC(2026, 0, 1) + n * 61_001),
    ]);
    assert.equal(await copy('typed_text', 'text', rows), 3000);
    assert.equal(await copy('typed_binary', 'binary', rows), 3000);
    const select = (table: string) =>
      `SELECT n, ${columns.map((c) => (c === 'j' ? 'j::text' : c)).join(', ')} FROM ${table} ORDER BY n`;
    const text = await pool.query(select('typed_text'));
    const binary = await pool.query(select('typed_binary'));
    assert.deepEqual(binary.rows, text.rows);
    assert.equal(binary.rows[7].i8, null);
    assert.equal(binary.rows[1].f8, Number.POSITIVE_INFINITY);
    assert.equal(
      binary.rows[5].ts.toISOString(),
      new Date(Date.UTC(2026, 0, 1) + 5 * 61_001).toISOString(),
    );
  });

  test('a bad value fails the whole COPY: no row is inserted', async () => {
    await pool.query('TRUNCATE typed_binary');
    const good = [1, 1, 1, 1, 1, 1, true, 'x', {}, {}, null, null, new Date()];
    const bad = [2, 1, 1, 1, 1, 1, 'yes', 'x', {}, {}, null, null, new Date()];
    await assert.rejects(
      copy('typed_binary', 'binary', [good, bad]),
      /cannot write "yes" as boolean/,
    );
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM typed_binary');
    assert.equal(rows[0].n, 0);
    const client = await pool.connect();
    try {
      await assert.rejects(
        copyRows(client, { table: 'typed_binary', columns: ['n'], rows: [[1]], format: 'binary' }),
        /one PostgreSQL type per column/,
      );
    } finally {
      client.release();
    }
  });
});
