/**
 * Malformed pipeline files through the real `bin/ferry check` and `bin/ferry run`: each is
 * refused with exit code 2 and a message that names the key and the fix, quickly, without
 * touching any server (source and sink point at a listener that counts connections), without
 * creating state, and without echoing the password.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runFerry, tempDir } from '../helpers/ferry.js';
import { CANARY_PASSWORD } from '../helpers/own-servers.js';

let connections = 0;
let trap: Server;
let port = 0;
let dir = '';

function base(over: { source?: string; sink?: string; pipeline?: string; top?: string } = {}): string {
  return `${over.top ?? ''}source:
  type: mariadb
  hostname: 127.0.0.1
  port: ${port}
  username: ferry
  password: "${CANARY_PASSWORD}"
  tables: shop\\..*
${over.source ?? ''}
sink:
  type: postgres
  hostname: 127.0.0.1
  port: ${port}
  username: ferry
  password: "${CANARY_PASSWORD}"
  database: dw
${over.sink ?? ''}
pipeline:
  name: bad-input
  state-dir: ${JSON.stringify(path.join(dir, 'state'))}
${over.pipeline ?? ''}
`;
}

interface Case {
  name: string;
  text: () => string;
  /** Patterns the message must contain: the key, and words of the fix. */
  expect: RegExp[];
}

const CASES: Case[] = [
  { name: 'a wrong type (port: "abc")', text: () => base().replace(`port: ${port}\n  username: ferry\n  password: "${CANARY_PASSWORD}"\n  tables`, `port: abc\n  username: ferry\n  password: "${CANARY_PASSWORD}"\n  tables`), expect: [/source\.port/, /integer|number/i] },
  { name: 'a wrong type (parallelism: [1, 2])', text: () => base({ pipeline: '  parallelism: [1, 2]' }), expect: [/pipeline\.parallelism/, /integer|number/i] },
  { name: 'an unknown key (hostnme)', text: () => base({ sink: '  hostnme: x' }), expect: [/sink\.hostnme/, /did you mean `?hostname/] },
  { name: 'an invalid regular expression', text: () => base().replace('tables: shop\\..*', 'tables: "shop\\\\.(("'), expect: [/source\.tables/, /regular expression|pattern/i] },
  { name: 'a catastrophic regular expression ((a+)+)', text: () => base().replace('tables: shop\\..*', 'tables: "(a+)+b"'), expect: [/source\.tables/, /backtrack|nested|quantifier/i] },
  { name: 'a missing environment variable', text: () => base({ sink: '  checkpoint-schema: ${FERRY_TEST_SURELY_UNSET_VAR}' }), expect: [/FERRY_CONFIG_(ENV_MISSING|INVALID)/, /FERRY_TEST_SURELY_UNSET_VAR/, /sink\.checkpoint-schema/, /export/i] },
  {
    name: 'a YAML alias bomb',
    text: () => `a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n${base()}`,
    expect: [/alias/i],
  },
  { name: 'a custom YAML tag', text: () => base({ pipeline: '  flush-interval: !!js/function "function () { return 1 }"' }), expect: [/tag/i] },
  { name: 'a local custom tag', text: () => base().replace('hostname: 127.0.0.1', 'hostname: !env HOST'), expect: [/tag/i] },
  { name: 'a __proto__ key', text: () => base({ source: '  __proto__:\n    polluted: true' }), expect: [/__proto__/] },
  { name: 'a 10 MB file', text: () => `${base()}\n# ${'x'.repeat(10 * 1024 * 1024)}\n`, expect: [/more than the \d+ allowed/, /fix:/] },
  { name: 'duplicate keys', text: () => base({ pipeline: '  parallelism: 2\n  parallelism: 3' }), expect: [/duplicate|parallelism/i] },
];

describe('bad pipeline files through the CLI: exit 2, key and fix named, no server touched', () => {
  before(async () => {
    dir = tempDir('bad-input');
    trap = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => trap.listen(0, '127.0.0.1', () => r()));
    port = (trap.address() as { port: number }).port;
  });
  after(() => {
    trap.close();
  });

  for (const c of CASES) {
    for (const command of ['check', 'run'] as const) {
      test(`${command}: ${c.name}`, async () => {
        const file = path.join(dir, `case-${command}-${c.name.replace(/[^a-z0-9]+/gi, '_')}.yaml`);
        writeFileSync(file, c.text());
        const started = Date.now();
        const r = await runFerry([command, file], {}, 30_000);
        assert.equal(r.code, 2, `exit code\n${r.output}`);
        assert.ok(Date.now() - started < 20_000, 'refused quickly (no connect attempt, no timeout)');
        for (const re of c.expect) assert.match(r.output, re);
        assert.match(r.output, /FERRY_CONFIG_[A-Z_]+/);
        assert.ok(!r.output.includes(CANARY_PASSWORD), `the password was echoed:\n${r.output}`);
        assert.ok(r.output.length < 20_000, 'the message does not echo the file');
        assert.equal(connections, 0, 'a server was contacted');
        assert.equal(existsSync(path.join(dir, 'state')), false, 'state was created for a bad file');
      });
    }
  }

  test('a missing environment variable: the message keeps its text (key, variable, fix) and is not mangled by the password fence', async () => {
    const file = path.join(dir, 'env-password.yaml');
    writeFileSync(file, base().replace(`password: "${CANARY_PASSWORD}"\n  tables`, 'password: ${FERRY_TEST_SURELY_UNSET_PW}\n  tables'));
    const r = await runFerry(['check', file], {}, 30_000);
    assert.equal(r.code, 2, r.output);
    assert.match(r.output, /source\.password: refers to the environment variable FERRY_TEST_SURELY_UNSET_PW/);
    // `ferry status` reads only the state store: an unset password does not stop it, and it
    // never shows a placeholder or a secret.
    const st = await runFerry(['status', file, '--json'], {}, 30_000);
    assert.equal(st.code, 0, st.output);
    assert.equal((JSON.parse(st.output) as { phase: string }).phase, 'not started');
    assert.doesNotMatch(st.output, /unset-variable|FERRY_TEST_SURELY_UNSET_PW/);
  });
});
