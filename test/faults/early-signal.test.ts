/**
 * SIGINT/SIGTERM that reach `ferry` while its modules are still loading: bin/ferry holds them
 * (Node's default would kill the process on the spot, exit by signal, nothing written to say so)
 * and hands them to the CLI. `ferry run` takes a held signal as its graceful stop; any other
 * command lets it have its default effect. The held list is given to `main` directly here: the
 * loading window is ~0.1 s, too short to hit from outside without a race.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { createShop } from '../../src/demo/shop.js';
import { HOST, MYSQL_PORT, PASSWORD, USER, pgOptions } from '../helpers/env.js';
import { REPO, tempDir, writePipelineFile } from '../helpers/ferry.js';
import { freshPgDatabase } from '../helpers/scenario.js';

const MAIN = pathToFileURL(path.join(REPO, 'dist', 'src', 'cli', 'main.js')).href;

function mainWithHeld(args: string[], held: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  // A script file, not `-e`: the pipeline worker inherits the process's Node options.
  const script = path.join(tempDir('early-signal-driver'), 'driver.mjs');
  writeFileSync(script, `const m = await import(${JSON.stringify(MAIN)});\nawait m.main(['node', 'ferry', ...${JSON.stringify(args)}], { received: ${JSON.stringify(held)}, release() {} });\n`);
  const child = spawn(process.execPath, [script], {
    env: { ...process.env, FERRY_TEST_SOURCE_PASSWORD: PASSWORD, FERRY_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    }),
  );
}

test('a SIGTERM held while `ferry run` loaded is its graceful stop: exit 0, stopped before copying anything; other commands re-raise it', async () => {
  const db = `early_sig_${process.pid}`;
  await createShop({ host: HOST, port: MYSQL_PORT, user: USER, password: PASSWORD, database: db }, 200);
  await freshPgDatabase({ host: pgOptions.host, port: pgOptions.port, user: pgOptions.user, password: pgOptions.password }, db);
  const file = writePipelineFile(tempDir('early-signal'), { name: 'f-early', tables: `${db}\\..*`, sink: 'postgres', pgDatabase: db });

  const run = await mainWithHeld(['run', file], ['SIGTERM']);
  assert.equal(run.signal, null, run.output);
  assert.equal(run.code, 0, run.output);
  assert.match(run.output, /stopping gracefully/);
  assert.doesNotMatch(run.output, /snapshot complete/);

  // Two held signals: the second one means "now", as two signals do while running.
  const twice = await mainWithHeld(['run', file], ['SIGTERM', 'SIGINT']);
  assert.equal(twice.code, 130, twice.output);

  const status = await mainWithHeld(['status', file], ['SIGTERM']);
  assert.equal(status.signal, 'SIGTERM', status.output);
});
