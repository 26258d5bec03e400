import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { FerryError } from '../../src/core/errors.js';
import { openStateStore, stateFiles } from '../../src/state/sqlite-store.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-corrupt-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = (): string => {
  const d = join(root, `d${++n}`);
  mkdirSync(d, { recursive: true });
  return d;
};

function assertCorrupt(dir: string, name: string, pattern: RegExp): void {
  const { file } = stateFiles(dir, name);
  assert.throws(
    () => openStateStore(dir, name),
    (e: unknown) => {
      assert.ok(e instanceof FerryError, String(e));
      assert.equal(e.code, 'FERRY_STATE_CORRUPT', e.message);
      assert.match(e.message, pattern);
      assert.ok(e.message.includes(file), 'the message names the file');
      if (!/belongs to pipeline|newer than/.test(e.message)) {
        assert.match(e.fix ?? '', /Move .* away .* restart the pipeline from scratch/);
        assert.ok(e.fix?.includes(file), 'the fix names the file');
      }
      return true;
    },
  );
}

/** A state file with enough rows to span many pages. */
function populated(dir: string, name: string): string {
  const s = openStateStore(dir, name);
  for (let i = 0; i < 400; i++) s.appendSchemaHistory(`pos${i}`, [{ tableId: `db.t${i}`, schemaJson: JSON.stringify({ pad: 'x'.repeat(400), i }) }]);
  s.commitCheckpoint('c');
  const file = s.file;
  s.close();
  return file;
}

describe('corrupt state files are refused at open', () => {
  test('garbage bytes', () => {
    const dir = freshDir();
    writeFileSync(stateFiles(dir, 'p').file, Buffer.from('this is not a database, just some text '.repeat(200)));
    assertCorrupt(dir, 'p', /not a readable SQLite database|cannot be opened/);
  });

  test('garbage written over the middle of a real state file', () => {
    const dir = freshDir();
    const file = populated(dir, 'p');
    const bytes = readFileSync(file);
    bytes.fill(0xa5, 8192, bytes.length - 8192);
    writeFileSync(file, bytes);
    assertCorrupt(dir, 'p', /integrity check|not a readable SQLite database|malformed/);
  });

  test('a truncated state file', () => {
    const dir = freshDir();
    const file = populated(dir, 'p');
    truncateSync(file, Math.floor(statSync(file).size / 2));
    assertCorrupt(dir, 'p', /integrity check|not a readable SQLite database|malformed/);
  });

  test('a state file truncated to nothing is not taken for a new pipeline', () => {
    const dir = freshDir();
    const file = populated(dir, 'p');
    truncateSync(file, 0);
    assertCorrupt(dir, 'p', /is empty \(truncated\?\)/);
  });

  test('a SQLite database that is not a Ferry state file', () => {
    const dir = freshDir();
    const db = new Database(stateFiles(dir, 'p').file);
    db.exec('CREATE TABLE other (x)');
    db.close();
    assertCorrupt(dir, 'p', /not a Ferry state file/);
  });

  test('a state file written by a newer Ferry', () => {
    const dir = freshDir();
    const file = populated(dir, 'p');
    const db = new Database(file);
    db.pragma('user_version = 99');
    db.close();
    assertCorrupt(dir, 'p', /newer than this Ferry understands/);
  });

  test('the state file of another pipeline', () => {
    const dir = freshDir();
    populated(dir, 'p');
    const db = new Database(stateFiles(dir, 'p').file);
    db.prepare("UPDATE meta SET value = 'q' WHERE key = 'pipeline_name'").run();
    db.close();
    assertCorrupt(dir, 'p', /belongs to pipeline "q", not "p"/);
  });

  test('a healthy file still opens after those checks', () => {
    const dir = freshDir();
    populated(dir, 'p');
    const s = openStateStore(dir, 'p');
    assert.equal(s.getCheckpoint(), 'c');
    assert.equal(s.allSchemaHistory().length, 400);
    s.close();
  });

  test('a garbage lock file is reported, not silently replaced', () => {
    const dir = freshDir();
    const s = openStateStore(dir, 'p');
    writeFileSync(stateFiles(dir, 'p').lockFile, Buffer.from('garbage '.repeat(100)));
    try {
      assert.throws(() => s.acquireRunLock(), (e: unknown) => e instanceof FerryError && e.code === 'FERRY_STATE_CORRUPT' && /lock file/.test(e.message));
    } finally {
      s.close();
    }
  });
});
