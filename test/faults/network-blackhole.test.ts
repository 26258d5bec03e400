/**
 * The network to the source, then to the target, black-holed for 90 s (packets dropped, no
 * reset: what a cut cable or a dead firewall state table looks like). Done with iptables on
 * loopback, only for the port of a server this file owns, and removed in `after`.
 * Expected: the silence is detected by heartbeats/timeouts (a log line within 30 s), Ferry
 * reconnects after the link is back, nothing lost.
 *
 * Runs only with FERRY_SLOW_FAULTS=1, as root, with iptables installed.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { pgOptions } from '../helpers/env.js';
import { waitFor } from '../helpers/ferry.js';
import { startOwnMariaDb, startOwnPostgres, type OwnMariaDb, type OwnPostgres } from '../helpers/own-servers.js';
import { Scenario } from '../helpers/scenario.js';

const SLOW = process.env.FERRY_SLOW_FAULTS === '1';
function hasIptables(): boolean {
  try {
    execFileSync('iptables', ['-L', 'OUTPUT', '-n'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const ENABLED = SLOW && process.getuid?.() === 0 && hasIptables();
const SKIP = ENABLED ? false : 'needs FERRY_SLOW_FAULTS=1, root and iptables';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Drops every loopback packet to or from `port` (both directions, so nothing resets). */
function blackhole(port: number, on: boolean): void {
  for (const dir of ['--dport', '--sport']) {
    const rule = ['OUTPUT', '-o', 'lo', '-p', 'tcp', dir, String(port), '-j', 'DROP'];
    try {
      execFileSync('iptables', [on ? '-A' : '-D', ...rule], { stdio: 'ignore' });
    } catch {
      // removing a rule that is not there
    }
  }
}

describe('network black-hole for 90 s (FERRY_SLOW_FAULTS=1)', { skip: SKIP }, () => {
  let source: OwnMariaDb;
  let target: OwnPostgres;
  const scenarios: Scenario[] = [];
  const ports: number[] = [];
  before(async () => {
    source = await startOwnMariaDb('blackhole');
    target = await startOwnPostgres('blackhole');
  });
  after(async () => {
    for (const p of ports) blackhole(p, false);
    for (const s of scenarios) await s.dispose();
    await source.destroy();
    await target.destroy();
  });

  test('link to the source black-holed: detected within 30 s, stream reconnects when it is back, converges', async (t) => {
    const s = await Scenario.create('net_src', source.options, { host: pgOptions.host, port: pgOptions.port, user: pgOptions.user, password: pgOptions.password });
    scenarios.push(s);
    s.start();
    await s.waitPhase('stream');
    await s.converge();
    s.watchTarget();
    s.startWorkload(50);
    await sleep(2000);
    ports.push(source.port);
    const before = s.ferry!.output().length;
    blackhole(source.port, true);
    const detected = await waitFor('detection', () => /source stream lost|heartbeat|timed? ?out/i.test(s.ferry!.output().slice(before)), 30_000, 500).then(() => true, () => false);
    t.diagnostic(`black-hole to the source detected within 30 s: ${detected}`);
    await sleep(90_000 - 30_000);
    blackhole(source.port, false);
    await sleep(3000);
    await s.stopWorkload();
    const started = Date.now();
    await s.converge(240_000);
    t.diagnostic(`converged ${Math.round((Date.now() - started) / 1000)} s after the link came back`);
    assert.equal((await s.stopFerry()).code, 0, s.tail());
    await s.finish();
    assert.ok(detected, 'the dead link was not detected by heartbeats within 30 s');
  });

  test('link to the target black-holed: lanes time out and retry, converge after', async (t) => {
    const s = await Scenario.create('net_tgt', source.options, target.options);
    scenarios.push(s);
    s.start();
    await s.waitPhase('stream');
    await s.converge();
    s.startWorkload(50);
    await sleep(2000);
    ports.push(target.port);
    const before = s.ferry!.output().length;
    blackhole(target.port, true);
    const detected = await waitFor('detection', () => /sink write failed|timed? ?out|unreachable/i.test(s.ferry!.output().slice(before)), 30_000, 500).then(() => true, () => false);
    t.diagnostic(`black-hole to the target detected within 30 s: ${detected}`);
    await sleep(60_000);
    blackhole(target.port, false);
    await sleep(3000);
    await s.stopWorkload();
    const gaveUp = s.ferry?.child.exitCode !== null;
    t.diagnostic(`ferry during the target black-hole: ${gaveUp ? `gave up (exit ${s.ferry?.child.exitCode}): ${(s.ferry?.output().match(/^FERRY_[A-Z_]+: .*$/m) ?? [''])[0].slice(0, 200)}` : 'kept running'}`);
    if (gaveUp) s.start();
    const started = Date.now();
    await s.converge(300_000);
    t.diagnostic(`converged ${Math.round((Date.now() - started) / 1000)} s after the link came back; ferry ${s.ferry?.child.exitCode === null ? 'kept running' : `exited ${s.ferry?.child.exitCode}`}`);
    await s.stopFerry();
    await s.finish();
    assert.ok(detected, 'the dead link was not detected within 30 s');
  });
});
