import { test } from 'node:test';
import assert from 'node:assert/strict';
import type mysql from 'mysql2/promise';
import { MySqlStatementBuffer } from '../../src/connectors/mysql/quote.js';
import { sendRawStatement } from '../../src/connectors/mysql/raw-query.js';

/** A stand-in for mysql2's connection internals: records the bytes written, answers one packet. */
function fakeConnection(answer: Buffer): { conn: mysql.Connection; written: Buffer[] } {
  const written: Buffer[] = [];
  const core = {
    sequenceId: 0,
    _resetSequenceId() {
      this.sequenceId = 0;
    },
    _bumpSequenceId(n: number) {
      this.sequenceId += n;
    },
    write(b: Buffer) {
      written.push(Buffer.from(b));
    },
    addCommand(cmd: { execute(p: unknown, c: unknown): boolean }) {
      assert.equal(cmd.execute(undefined, core), false);
      const packet = {
        buffer: answer,
        start: 0,
        end: answer.length,
        isError: () => answer[4] === 0xff,
        asError: () => Object.assign(new Error('server error'), { code: 'ER_TEST', errno: answer.readUInt16LE(5) }),
      };
      assert.equal(cmd.execute(packet, core), true);
    },
  };
  return { conn: { connection: core } as unknown as mysql.Connection, written };
}

/** An OK packet (with its 4-byte header): affected rows 0x1234, insert id 0, status 2, 3 warnings. */
const OK = Buffer.from([7 + 2, 0, 0, 1, 0x00, 0xfc, 0x34, 0x12, 0x00, 0x02, 0x00, 0x03, 0x00]);

test('sendRawStatement sends the statement as one COM_QUERY packet and reads the OK packet', async () => {
  const sb = new MySqlStatementBuffer();
  sb.text('DELETE FROM `t` WHERE `id` IN (').literal(1).byte(0x29);
  const { conn, written } = fakeConnection(OK);
  const r = await sendRawStatement(conn, sb.packet());
  assert.deepEqual(r, { affectedRows: 0x1234, warnings: 3 });
  const sql = 'DELETE FROM `t` WHERE `id` IN (1)';
  const out = Buffer.concat(written);
  assert.equal(out.readUIntLE(0, 3), sql.length + 1);
  assert.equal(out[3], 0);
  assert.equal(out[4], 0x03);
  assert.equal(out.toString('utf8', 5), sql);
});

test('sendRawStatement splits a statement of 16 MiB or more into packets with consecutive sequence ids', async () => {
  const sb = new MySqlStatementBuffer();
  const payload = 'x'.repeat(0xffffff * 2 - 1); // + COM_QUERY byte = exactly 2 full packets, then an empty one
  sb.text(payload);
  const { conn, written } = fakeConnection(OK);
  await sendRawStatement(conn, sb.packet());
  const out = Buffer.concat(written);
  const lengths: number[] = [];
  const seqs: number[] = [];
  let body = 0;
  for (let p = 0; p < out.length; ) {
    const n = out.readUIntLE(p, 3);
    lengths.push(n);
    seqs.push(out[p + 3] as number);
    body += n;
    p += 4 + n;
  }
  assert.deepEqual(lengths, [0xffffff, 0xffffff, 0]);
  assert.deepEqual(seqs, [0, 1, 2]);
  assert.equal(body, payload.length + 1);
});

test('sendRawStatement rejects with the server error of an ERR packet', async () => {
  const err = Buffer.from([9, 0, 0, 1, 0xff, 0x26, 0x04, 0x23, 0x32, 0x33, 0x30, 0x30, 0x30]);
  const { conn } = fakeConnection(err);
  const sb = new MySqlStatementBuffer();
  sb.text('INSERT INTO `t` VALUES (1)');
  await assert.rejects(sendRawStatement(conn, sb.packet()), (e: Error & { code?: string; errno?: number }) => e.code === 'ER_TEST' && e.errno === 0x0426);
});
