export { openBinlogStream, readServerPosition, errorOfDump, type BinlogStart, type BinlogStream, type BinlogStreamOptions } from './reader.js';
export { BinlogEventParser, readHeader, decodeGtidSet, type ChecksumAlg, type EventHeader, type EventParserOptions } from './events.js';
export { buildPlan } from './rows.js';
export { buildBinlogDump, buildBinlogDumpGtid, encodeGtidSet, BinlogDumpCommand } from './dump-command.js';
export { crc32 } from './crc32.js';
export { EventCode, ColumnType, MariadbGtidFlag } from './constants.js';
export type * from './types.js';
