import { TextDecoder } from 'node:util';
import { FerryError } from '../../../core/errors.js';

/**
 * Character sets as the binlog decoder needs them: collation id → charset name (Table_map
 * FULL metadata carries collation ids), and charset name → a decoder.
 *
 * Ids are those of MariaDB 10.11 (`information_schema.COLLATIONS`) plus the MySQL 8 ones that
 * MariaDB does not use (255–323 utf8mb4_0900_*, 76 utf8mb3_tolower_ci, 248–250 gb18030).
 */
const COLLATION_IDS: Record<string, readonly (number | readonly [number, number])[]> = {
  armscii8: [32, 64, 1056, 1088],
  ascii: [11, 65, 1035, 1089],
  big5: [1, 84, 1025, 1108],
  binary: [63],
  cp1250: [26, 34, 44, 66, 99, 1050, 1090],
  cp1251: [14, 23, 50, 51, 52, 1074, 1075],
  cp1256: [57, 67, 1081, 1091],
  cp1257: [29, 58, 59, 1082, 1083],
  cp850: [4, 80, 1028, 1104],
  cp852: [40, 81, 1064, 1105],
  cp866: [36, 68, 1060, 1092],
  cp932: [95, 96, 1119, 1120],
  dec8: [3, 69, 1027, 1093],
  eucjpms: [97, 98, 1121, 1122],
  euckr: [19, 85, 1043, 1109],
  gb2312: [24, 86, 1048, 1110],
  gb18030: [[248, 250]],
  gbk: [28, 87, 1052, 1111],
  geostd8: [92, 93, 1116, 1117],
  greek: [25, 70, 1049, 1094],
  hebrew: [16, 71, 1040, 1095],
  hp8: [6, 72, 1030, 1096],
  keybcs2: [37, 73, 1061, 1097],
  koi8r: [7, 74, 1031, 1098],
  koi8u: [22, 75, 1046, 1099],
  latin1: [5, 8, 15, 31, 47, 48, 49, 94, 1032, 1071],
  latin2: [2, 9, 21, 27, 77, 1033, 1101],
  latin5: [30, 78, 1054, 1102],
  latin7: [20, 41, 42, 79, 1065, 1103],
  macce: [38, 43, 1062, 1067],
  macroman: [39, 53, 1063, 1077],
  sjis: [13, 88, 1037, 1112],
  swe7: [10, 82, 1034, 1106],
  tis620: [18, 89, 1042, 1113],
  ucs2: [35, 90, [128, 151], 159, 640, 641, 642, 1059, 1114, 1152, 1174],
  ujis: [12, 91, 1036, 1115],
  utf16: [54, 55, [101, 124], 672, 673, 674, 1078, 1079, 1125, 1147],
  utf16le: [56, 62, 1080, 1086],
  utf32: [60, 61, [160, 183], 736, 737, 738, 1084, 1085, 1184, 1206],
  utf8mb3: [33, 76, 83, [192, 215], 223, 576, 577, 578, 1057, 1107, 1216, 1238],
  utf8mb4: [45, 46, [224, 247], [255, 323], 608, 609, 610, 1069, 1070, 1248, 1270],
};

const BY_ID = new Map<number, string>();
for (const [name, ids] of Object.entries(COLLATION_IDS)) {
  for (const id of ids) {
    if (typeof id === 'number') BY_ID.set(id, name);
    else for (let i = id[0]; i <= id[1]; i++) BY_ID.set(i, name);
  }
}

/** Charset name of a collation id, or undefined when Ferry does not know the id. */
export function charsetOfCollation(id: number): string | undefined {
  return BY_ID.get(id);
}

/** How a charset is decoded; small integers so the row loop can switch on them. */
export const Cs = {
  /** Unknown: values are returned as Buffer (no guessing). */
  RAW: 0,
  UTF8: 1,
  BINARY: 2,
  LATIN1: 3,
  ASCII: 4,
  UCS2: 5,
  UTF16: 6,
  UTF16LE: 7,
  UTF32: 8,
  TEXT_DECODER: 9,
} as const;
export type CsCode = (typeof Cs)[keyof typeof Cs];

const WHATWG_LABELS: Record<string, string> = {
  cp1250: 'windows-1250',
  cp1251: 'windows-1251',
  cp1256: 'windows-1256',
  cp1257: 'windows-1257',
  latin2: 'iso-8859-2',
  greek: 'iso-8859-7',
  hebrew: 'iso-8859-8',
  latin5: 'windows-1254',
  latin7: 'iso-8859-13',
  koi8r: 'koi8-r',
  koi8u: 'koi8-u',
  gbk: 'gbk',
  gb2312: 'gbk',
  gb18030: 'gb18030',
  big5: 'big5',
  sjis: 'shift_jis',
  cp932: 'shift_jis',
  ujis: 'euc-jp',
  eucjpms: 'euc-jp',
  euckr: 'euc-kr',
  cp866: 'ibm866',
  macroman: 'macintosh',
  tis620: 'windows-874',
};

export interface CharsetDecoder {
  code: CsCode;
  /** Charset name, for messages. */
  name: string;
  textDecoder: TextDecoder | null;
}

const decoderCache = new Map<string, CharsetDecoder>();

/**
 * The decoder for a charset name (`utf8mb4`, `latin1`, ...). Throws FERRY_BINLOG_UNSUPPORTED for
 * a charset Ferry cannot decode exactly.
 */
export function charsetDecoder(name: string): CharsetDecoder {
  const key = name.toLowerCase();
  const hit = decoderCache.get(key);
  if (hit) return hit;
  let d: CharsetDecoder;
  switch (key) {
    case 'utf8':
    case 'utf8mb3':
    case 'utf8mb4':
      d = { code: Cs.UTF8, name: key, textDecoder: null };
      break;
    case 'binary':
      d = { code: Cs.BINARY, name: key, textDecoder: null };
      break;
    case 'latin1':
      d = { code: Cs.LATIN1, name: key, textDecoder: null };
      break;
    case 'ascii':
      d = { code: Cs.ASCII, name: key, textDecoder: null };
      break;
    case 'ucs2':
      d = { code: Cs.UCS2, name: key, textDecoder: null };
      break;
    case 'utf16':
      d = { code: Cs.UTF16, name: key, textDecoder: null };
      break;
    case 'utf16le':
      d = { code: Cs.UTF16LE, name: key, textDecoder: null };
      break;
    case 'utf32':
      d = { code: Cs.UTF32, name: key, textDecoder: null };
      break;
    default: {
      const label = WHATWG_LABELS[key];
      if (label === undefined) {
        throw new FerryError('FERRY_BINLOG_UNSUPPORTED', `character set "${name}" cannot be decoded from the binlog`, {
          fix: 'Convert the column to utf8mb4, or exclude the table from the pipeline.',
        });
      }
      d = { code: Cs.TEXT_DECODER, name: key, textDecoder: new TextDecoder(label, { fatal: false }) };
    }
  }
  decoderCache.set(key, d);
  return d;
}

/** MySQL `latin1` is Windows-1252; bytes 0x80–0x9F map to these code points (undefined ones stay C1). */
const CP1252_HIGH = [
  0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d,
  0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a,
  0x0153, 0x009d, 0x017e, 0x0178,
];

function decodeCp1252(buf: Buffer, start: number, end: number): string {
  let i = start;
  while (i < end) {
    const b = buf[i] as number;
    if (b >= 0x80 && b < 0xa0) break;
    i++;
  }
  if (i === end) return buf.toString('latin1', start, end);
  let s = buf.toString('latin1', start, i);
  for (; i < end; i++) {
    const b = buf[i] as number;
    s += String.fromCharCode(b >= 0x80 && b < 0xa0 ? (CP1252_HIGH[b - 0x80] as number) : b);
  }
  return s;
}

function decodeUtf16Be(buf: Buffer, start: number, end: number): string {
  const n = (end - start) & ~1;
  const copy = Buffer.allocUnsafe(n);
  buf.copy(copy, 0, start, start + n);
  copy.swap16();
  return copy.toString('utf16le');
}

function decodeUtf32Be(buf: Buffer, start: number, end: number): string {
  let s = '';
  for (let i = start; i + 4 <= end; i += 4) s += String.fromCodePoint(buf.readUInt32BE(i));
  return s;
}

/** Decodes `buf[start,end)` in a charset; BINARY and RAW give a copy as Buffer. */
export function decodeText(d: CharsetDecoder, buf: Buffer, start: number, end: number): string | Buffer {
  switch (d.code) {
    case Cs.UTF8:
      return buf.toString('utf8', start, end);
    case Cs.LATIN1:
      return decodeCp1252(buf, start, end);
    case Cs.ASCII:
      return buf.toString('latin1', start, end);
    case Cs.UCS2:
    case Cs.UTF16:
      return decodeUtf16Be(buf, start, end);
    case Cs.UTF16LE:
      return buf.toString('utf16le', start, end);
    case Cs.UTF32:
      return decodeUtf32Be(buf, start, end);
    case Cs.TEXT_DECODER:
      return (d.textDecoder as TextDecoder).decode(buf.subarray(start, end));
    default:
      return Buffer.from(buf.subarray(start, end));
  }
}

export const RAW_DECODER: CharsetDecoder = { code: Cs.RAW, name: 'unknown', textDecoder: null };
