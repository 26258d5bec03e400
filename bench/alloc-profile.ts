/**
 * Where a pipeline allocates: runs a pipeline file in this process (no worker thread) under V8's
 * sampling heap profiler, counting the objects the collector has freed too, and prints the bytes
 * allocated per function and per call site (three frames). Allocation does not depend on how
 * busy the machine is, so a change meant to reduce garbage can be checked here when timings are
 * too noisy to show it (these machines vary by ±10% from run to run).
 *
 *   node dist/bench/alloc-profile.js PIPELINE.yaml SECONDS [TOP]
 *
 * The run is stopped (as by SIGTERM: lanes flushed, checkpoint written) after SECONDS; give it
 * long enough to read its whole range, so that two builds are compared on the same changes.
 * Remove the pipeline's state directory between runs (or give each run its own): a pipeline
 * resumes from its checkpoint. For a binlog range of the kept bench servers, copy a pipeline
 * file that bench/ab.ts wrote (.run/bench/ab/*.yaml) and change its name and state-dir.
 */
import { Session } from 'node:inspector/promises';
import { loadPipelineConfig } from '../src/core/config.js';
import { runPipelineFile } from '../src/cli/run.js';

interface SampleNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SampleNode[];
}

function frameName(n: SampleNode): string {
  const cf = n.callFrame;
  const file = cf.url.split('/').slice(-2).join('/');
  return `${cf.functionName || '(anonymous)'}${file ? ` ${file}:${cf.lineNumber + 1}` : ''}`;
}

async function main(): Promise<void> {
  const [file, secondsArg, topArg] = process.argv.slice(2);
  const seconds = Number(secondsArg);
  if (!file || !Number.isFinite(seconds) || seconds <= 0) throw new Error('usage: alloc-profile.js PIPELINE.yaml SECONDS [TOP]');
  const top = Number(topArg ?? 25);
  const cfg = loadPipelineConfig(file);
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort({ signal: 'SIGTERM' }), seconds * 1000);
  const result = await runPipelineFile(cfg, { logLevel: 'warn', tty: false }, stop.signal, undefined);
  clearTimeout(timer);
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: SampleNode } };
  session.disconnect();
  const byFn = new Map<string, number>();
  const bySite = new Map<string, number>();
  let total = 0;
  const walk = (n: SampleNode, stack: string[]): void => {
    const here = [...stack, frameName(n)];
    if (n.selfSize > 0) {
      total += n.selfSize;
      const name = here[here.length - 1] as string;
      byFn.set(name, (byFn.get(name) ?? 0) + n.selfSize);
      const site = here.slice(-3).join(' < ');
      bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
    }
    for (const c of n.children) walk(c, here);
  };
  walk(profile.head, []);
  const pct = (v: number): string => `${((v / (total || 1)) * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(`outcome ${result.outcome}; ${(total / 1e6).toFixed(1)} MB allocated (sampled)\n\nby function (self):\n`);
  for (const [k, v] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(v)}  ${k}\n`);
  process.stdout.write('\nby call site (innermost last):\n');
  for (const [k, v] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(v)}  ${k}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
