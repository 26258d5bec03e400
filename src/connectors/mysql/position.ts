import { FerryError } from '../../core/errors.js';
import type { PositionCodec } from '../../core/position.js';

/**
 * A MySQL/MariaDB binlog position: the file and offset of the next event to read, at a
 * transaction boundary, plus the GTID state after the last transaction read (MariaDB
 * `domain-server-seq` list or MySQL `uuid:interval` set), when the server has GTIDs.
 */
export interface BinlogPosition {
  file: string;
  pos: number;
  /** GTID state *after* everything before `pos` (MariaDB gtid list or MySQL executed set); '' when unknown. */
  gtid: string;
}

const FILE_RE = /^(.+)\.(\d+)$/;

function splitFile(file: string): { base: string; index: number } {
  const m = FILE_RE.exec(file);
  if (!m || m[1] === undefined || m[2] === undefined) {
    throw new FerryError('FERRY_POSITION_INVALID', `binlog file name "${file}" has no numeric extension`);
  }
  return { base: m[1], index: Number(m[2]) };
}

export const binlogPositionCodec: PositionCodec<BinlogPosition> = {
  encode(p) {
    return JSON.stringify({ file: p.file, pos: p.pos, gtid: p.gtid });
  },
  decode(text) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new FerryError('FERRY_POSITION_INVALID', `binlog position is not valid JSON: ${text.slice(0, 80)}`, { cause: e });
    }
    if (typeof v !== 'object' || v === null) throw new FerryError('FERRY_POSITION_INVALID', 'binlog position is not an object');
    const o = v as Record<string, unknown>;
    if (typeof o.file !== 'string' || typeof o.pos !== 'number' || !Number.isSafeInteger(o.pos) || o.pos < 0) {
      throw new FerryError('FERRY_POSITION_INVALID', `binlog position needs a file name and a non-negative integer offset: ${text.slice(0, 80)}`);
    }
    splitFile(o.file);
    const gtid = typeof o.gtid === 'string' ? o.gtid : '';
    return { file: o.file, pos: o.pos, gtid };
  },
  compare(a, b) {
    const fa = splitFile(a.file);
    const fb = splitFile(b.file);
    if (fa.base !== fb.base) {
      throw new FerryError('FERRY_POSITION_INVALID', `cannot compare positions of different binlogs (${a.file} vs ${b.file})`);
    }
    if (fa.index !== fb.index) return fa.index - fb.index;
    return a.pos - b.pos;
  },
  format(p) {
    return `${p.file}:${p.pos}${p.gtid ? ` [${p.gtid}]` : ''}`;
  },
};
