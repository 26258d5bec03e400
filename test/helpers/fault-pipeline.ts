/**
 * Pipeline files for the fault tests: any source/target port, the canary account as the source
 * login (its password comes from the environment, FERRY_CANARY_PASSWORD), state under the test
 * directory. `runDir` of a pipeline is where every file it writes lives (scanned for the canary).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CANARY_PASSWORD, CANARY_USER } from './own-servers.js';
import { startFerry, type FerryProcess } from './ferry.js';

export interface FaultPipeline {
  name: string;
  dir: string;
  file: string;
  stateDir: string;
  stateFile: string;
}

export interface FaultPipelineOptions {
  name: string;
  dir: string;
  source: { port: number; user?: string; passwordEnv?: boolean; password?: string };
  tables: string;
  target: { port: number; database: string; user?: string; password?: string };
  parallelism?: number;
  chunkSize?: number;
  serverId?: number;
  batchMaxRows?: number;
  extraSource?: string;
}

export function writeFaultPipeline(o: FaultPipelineOptions): FaultPipeline {
  const stateDir = path.join(o.dir, 'state');
  const file = path.join(o.dir, `${o.name}.yaml`);
  const user = o.source.user ?? CANARY_USER;
  const password = o.source.password ?? '${FERRY_CANARY_PASSWORD}';
  writeFileSync(
    file,
    `source:
  type: mariadb
  hostname: 127.0.0.1
  port: ${o.source.port}
  username: ${user}
  password: ${JSON.stringify(password)}
  tables: ${JSON.stringify(o.tables)}
  scan.snapshot.chunk.size: ${o.chunkSize ?? 500}
  heartbeat.interval: 1s
  connect.timeout: 5s
${o.serverId ? `  server-id: ${o.serverId}\n` : ''}${o.extraSource ?? ''}
sink:
  type: postgres
  hostname: 127.0.0.1
  port: ${o.target.port}
  username: ${o.target.user ?? 'ferry'}
  password: ${JSON.stringify(o.target.password ?? 'ferry')}
  database: ${o.target.database}
  batch.max-rows: ${o.batchMaxRows ?? 2000}
pipeline:
  name: ${o.name}
  parallelism: ${o.parallelism ?? 3}
  state-dir: ${JSON.stringify(stateDir)}
  flush-interval: 50ms
`,
  );
  return { name: o.name, dir: o.dir, file, stateDir, stateFile: path.join(stateDir, `${o.name}.sqlite`) };
}

/** `ferry run` of a fault pipeline with the canary password in its environment. */
export function runPipelineProcess(p: FaultPipeline, args: string[] = [], env: Record<string, string> = {}): FerryProcess {
  return startFerry(['run', p.file, ...args], { FERRY_CANARY_PASSWORD: CANARY_PASSWORD, ...env });
}

/** Waits for a process to exit, killing it after `ms`. */
export async function exitWithin(p: FerryProcess, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }> {
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    p.child.kill('SIGKILL');
  }, ms);
  const r = await p.exited;
  clearTimeout(t);
  return { ...r, timedOut };
}
