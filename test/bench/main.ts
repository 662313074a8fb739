// `npm run bench`: what following jobs costs, printed as a table and, last, one
// JSON line. It never fails on a figure: goals are printed beside the figures
// (✓/✗); it exits non-zero only when a part could not run at all.
//
// 1. SLURM commands per poll cycle at 10, 1,000 (real held jobs on the local
//    cluster) and 10,000 jobs (a session replaying recorded real rows);
// 2. the daemon's CPU time for one cycle at 10,000 jobs (replayed: no SSH);
// 3. a status refresh over the daemon's warm SSH session vs `ssh host squeue`
//    with a new connection each time, against the real sshd;
// 4. jobs/list over the in-memory transport with 10,000 jobs in the registry;
// 5. runtime estimates (test/bench/runtime.ts): training the runtime model on
//    100,000 LANL-CM5 jobs (time, peak memory), one estimate inside the daemon
//    and over its WebSocket (real daemon, local cluster), batch throughput.
//
// `--no-cluster` runs only the replayed parts, from the recorded fixtures (and
// the runtime part without its WebSocket figure). `--no-runtime` leaves the
// runtime part out; `--runtime-only` runs only it.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createApp, type App } from '../../daemon/app';
import { openDatabase, type Db } from '../../daemon/db/database';
import type { LogSink } from '../../daemon/log';
import { createLogger } from '../../daemon/log';
import { Initialize, JobsList, PROTOCOL_VERSION } from '../../daemon/protocol';
import { RpcConnection } from '../../daemon/rpc/connection';
import { createMemoryTransportPair } from '../../daemon/rpc/transport';
import { squeueCommand } from '../../daemon/slurm/commands';
import { parseSqueue, parseSqueuePaths } from '../../daemon/slurm/squeue';
import { shellCommand } from '../../daemon/ssh/quote';
import { SshSession } from '../../daemon/ssh/session';
import { loadClusterEnv, type ClusterEnv } from '../integration/clusterEnv';
import { fixture, jobIdOf } from '../fixtures/slurm/fixtures';
import { ReplaySession, firstRow, rowMaker, toolOf, type RowTemplate } from './replay';
import { bytes, measure, median, ms, progress, quantile, round, table, type Row } from './util';
import { loadPart } from './load';
import { soakPart } from './soak';
import { activationPart } from './activation';
import { dashboardPart } from './dashboard';
import type { BenchPart, PartResult } from './parts';
import { batchFigures, GOALS as RT, WARMUP as RT_WARMUP, inDaemonFigures, trainFigures, wsFigures, type BatchFigures, type InDaemonFigures, type Latency, type TrainFigures, type Trained, type WsFigures } from './runtime';

const argv = new Set(process.argv.slice(2));
const useCluster = !argv.has('--no-cluster');
const runtimeOnly = argv.has('--runtime-only');
const useRuntime = !argv.has('--no-runtime');
const REAL_COUNTS = [10, 1000] as const;
const REPLAY_COUNT = 10_000;
const STEADY_RUNS_REAL = 5;
const STEADY_RUNS_REPLAY = 9;
const REFRESH_RUNS = 20;
const CPU_GOAL_MS = 100;
const WARM_GOAL_RATIO = 5;
const CLUSTER = 'local';
/**
 * Parts that bring rows of their own (test/bench/parts.ts: the row API).
 * Add yours here. `--only=NAME[,NAME]` runs only those parts (none of the
 * figures above); `--no-NAME` leaves one out; a part with `onlyWith` runs only
 * with that flag (`--soak`).
 */
const PARTS: BenchPart[] = [loadPart, soakPart, dashboardPart, activationPart];
const onlyParts = [...argv].find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
/** Where the results are written as JSON, besides the last line of stdout (`--out=FILE`). */
const OUT_FILE = [...argv].find((a) => a.startsWith('--out='))?.slice('--out='.length) ?? path.join(__dirname, '..', '..', 'bench-results.json');

interface CycleFigures {
  commands: number;
  changed: number;
  /** Commands by kind, in order. */
  kinds: string[];
  wallMs: number;
  cpuMs: number;
  /** Wall time spent waiting on the commands (real cycles only). */
  sshMs: number;
}

interface CaseFigures {
  jobs: number;
  source: 'real' | 'replayed';
  first: CycleFigures;
  /** Medians over the steady runs; commands and changed as seen in every run. */
  steady: CycleFigures & { runs: number; commandsSeen: number[]; changedSeen: number[]; cpuRunsMs: number[] };
  /** Whether the records ended as SLURM has them (pending, its reason, its output path). */
  recordsOk: boolean;
  warnings: number;
}

interface ExecRecord {
  kind: string;
  ms: number;
  stdout: string;
}

/** The daemon's log at its default level, counted and dropped (warnings kept for the report). */
function quietSink(): LogSink & { warnings: string[] } {
  const warnings: string[] = [];
  return {
    level: 'info',
    warnings,
    write(line) {
      if (/"level":"(warn|error)"/.test(line)) warnings.push(line);
    },
  };
}

function newApp(dir: string, name: string): { app: App; db: Db; sink: ReturnType<typeof quietSink> } {
  // A file database in WAL mode, as the daemon runs it.
  const dbPath = path.join(dir, `${name}.db`);
  const db = openDatabase(dbPath);
  const sink = quietSink();
  const app = createApp({
    db,
    databasePath: dbPath,
    log: createLogger(sink),
    logSink: sink,
    pollIntervalMs: 3_600_000,
    location: { stateDir: dir, stateFile: path.join(dir, 'daemon.json'), port: () => 0, startedAt: new Date().toISOString() },
    requestShutdown: () => {},
  });
  return { app, db, sink };
}

/** Records of jobs SLURM already accepted: what the daemon holds after sbatch answered. */
function addJobs(app: App, clusterId: string, ids: readonly string[]): void {
  app.jobs.transaction(() => {
    for (const id of ids) {
      const j = app.jobs.create({ clusterId, name: 'bench', script: 'true', scriptPath: '/dev/null', runDir: '/tmp', sbatchArgs: [] });
      app.jobs.update(j.id, { slurmJobId: id, state: 'PENDING' });
    }
  });
}

interface Expected {
  reason: string | null;
  stdoutPath: string | null;
}

/** Whether every record ended as SLURM has the job: pending, with the reason and output path of the rows. */
function recordsOk(app: App, n: number, expected: Expected): boolean {
  const active = app.jobs.active();
  return active.length === n && active.every((j) => j.state === 'PENDING' && j.reason === expected.reason && j.stdoutPath === expected.stdoutPath);
}

/** What the records should end as, read from the rows the replay answers with. */
function expectedFrom(squeueT: RowTemplate, pathsT: RowTemplate): Expected {
  const q = parseSqueue(squeueT.line);
  const p = parseSqueuePaths(pathsT.line);
  return { reason: q.ok ? (q.value[0]?.reason ?? null) : null, stdoutPath: p.ok ? (p.value[0]?.stdOut ?? null) : null };
}

async function cycle(app: App, execs: ExecRecord[]): Promise<CycleFigures> {
  execs.length = 0;
  const m = await measure(() => app.poller.tick());
  const stats = m.value.get(CLUSTER) ?? { commands: 0, changed: 0 };
  return { commands: stats.commands, changed: stats.changed, kinds: execs.map((e) => e.kind), wallMs: m.wallMs, cpuMs: m.cpuMs, sshMs: execs.reduce((s, e) => s + e.ms, 0) };
}

function steadyOf(runs: CycleFigures[]): CaseFigures['steady'] {
  return {
    commands: median(runs.map((r) => r.commands)),
    changed: median(runs.map((r) => r.changed)),
    kinds: runs[0]?.kinds ?? [],
    wallMs: median(runs.map((r) => r.wallMs)),
    cpuMs: median(runs.map((r) => r.cpuMs)),
    sshMs: median(runs.map((r) => r.sshMs)),
    runs: runs.length,
    commandsSeen: [...new Set(runs.map((r) => r.commands))],
    changedSeen: [...new Set(runs.map((r) => r.changed))],
    cpuRunsMs: runs.map((r) => round(r.cpuMs)),
  };
}

// ------------------------------------------------------------ real jobs

interface RealCase extends CaseFigures {
  connectMs: number;
  /** Real first-cycle outputs, to replay from. */
  squeueOutput: string;
  pathsOutput: string;
}

async function realCase(env: ClusterEnv, ids: readonly string[], dir: string): Promise<RealCase> {
  const { app, db, sink } = newApp(dir, `real-${ids.length}`);
  try {
    const cluster = app.clusters.add({ name: CLUSTER, host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
    // The real session, its commands timed and their output kept.
    const execs: ExecRecord[] = [];
    const real = app.connections.session.bind(app.connections);
    app.connections.session = async (c, req) => {
      const s = await real(c, req);
      return {
        ...s,
        exec: async (a, o) => {
          const t0 = performance.now();
          const r = await s.exec(a, o);
          execs.push({ kind: toolOf(a), ms: performance.now() - t0, stdout: r.stdout });
          return r;
        },
      };
    };
    const connect = await measure(() => app.connections.session(cluster));
    addJobs(app, cluster.id, ids);
    const first = await cycle(app, execs);
    const squeueOutput = execs.find((e) => e.kind === 'squeue')?.stdout ?? '';
    const pathsOutput = execs.find((e) => e.kind === 'squeue --Format')?.stdout ?? '';
    const runs: CycleFigures[] = [];
    for (let i = 0; i < STEADY_RUNS_REAL; i++) runs.push(await cycle(app, execs));
    return {
      jobs: ids.length,
      source: 'real',
      first,
      steady: steadyOf(runs),
      recordsOk: recordsOk(app, ids.length, { reason: 'JobHeldUser', stdoutPath: '/dev/null' }),
      warnings: sink.warnings.length,
      connectMs: connect.wallMs,
      squeueOutput,
      pathsOutput,
    };
  } finally {
    await app.close();
    db.close();
  }
}

// ------------------------------------------------------------ replayed jobs

interface ReplayCase extends CaseFigures {
  templates: { squeue: string; paths: string };
  /** Outputs the replay had to build mid-cycle (should be 0). */
  builtMidCycle: number;
  registryInsertMs: number;
  notifications: { count: number; bytes: number };
  /** Parts of a steady cycle measured on their own. */
  parts: { activeQueryMs: number; parseSqueueMs: number; squeueBytes: number; findPerJobMs: number };
  rpc: { listDefaultP50Ms: number; listDefaultBytes: number; listAllP50Ms: number; listAllBytes: number; listAllRuns: number; scrapeP50Ms: number; scrapeBytes: number } | { error: string };
}

async function replayCase(n: number, squeueT: RowTemplate, pathsT: RowTemplate, dir: string): Promise<ReplayCase> {
  const { app, db, sink } = newApp(dir, `replay-${n}`);
  const replay = new ReplaySession(rowMaker(squeueT), rowMaker(pathsT));
  const rpcClient: { close(): void }[] = [];
  try {
    app.connections.session = async () => replay;
    const cluster = app.clusters.add({ name: CLUSTER, host: '127.0.0.1', port: 22, user: 'bench', knownHostsFile: path.join(dir, 'known_hosts') });
    const base = 9_000_000;
    const ids = Array.from({ length: n }, (_, i) => String(base + i));
    const insert = await measure(async () => addJobs(app, cluster.id, ids));
    replay.prepare(ids);

    // One client attached, as when the editor is open: it receives every jobs/didChange (counted, not parsed).
    const [serverEnd, clientEnd] = createMemoryTransportPair();
    app.dispatcher.attach(serverEnd);
    const notifications = { count: 0, bytes: 0 };
    let initialized!: () => void;
    const ready = new Promise<void>((r) => (initialized = r));
    clientEnd.onMessage((m) => {
      if (m.startsWith('{"jsonrpc":"2.0","method"')) {
        notifications.count++;
        notifications.bytes += Buffer.byteLength(m);
      } else initialized();
    });
    clientEnd.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: Initialize.method, params: { protocolVersion: PROTOCOL_VERSION, clientName: 'bench' } }));
    await ready;
    rpcClient.push(clientEnd);

    const noExecs: ExecRecord[] = [];
    const counted = (f: CycleFigures) => ({ ...f, kinds: replay.calls.splice(0) });
    replay.calls.length = 0;
    const first = counted(await cycle(app, noExecs));
    const firstNotifications = { ...notifications };
    const runs: CycleFigures[] = [];
    for (let i = 0; i < STEADY_RUNS_REPLAY; i++) runs.push(counted(await cycle(app, noExecs)));
    const warnings = sink.warnings.length;

    // Where a steady cycle's time goes, the big parts on their own.
    const output = (await replay.exec(squeueCommand(ids))).stdout;
    replay.calls.length = 0;
    const active = median(await repeat(5, async () => (await measure(async () => app.jobs.activeRefs())).wallMs));
    const parse = median(await repeat(5, async () => (await measure(async () => parseSqueue(output))).wallMs));
    const jobIds = app.jobs.active().map((j) => j.id);
    const find = median(await repeat(3, async () => (await measure(async () => jobIds.forEach((id) => app.jobs.find(id)))).wallMs));

    // jobs/list end to end over the in-memory transport (client parses and validates too).
    let rpc: ReplayCase['rpc'];
    try {
      const [s2, c2] = createMemoryTransportPair();
      app.dispatcher.attach(s2);
      let lastBytes = 0;
      c2.onMessage((m) => (lastBytes = Buffer.byteLength(m)));
      const client = new RpcConnection(c2, { requestTimeoutMs: 120_000 });
      rpcClient.push(client);
      await client.request(Initialize, { protocolVersion: PROTOCOL_VERSION, clientName: 'bench-rpc' });
      const listDefault = await repeat(REFRESH_RUNS, async () => (await measure(() => client.request(JobsList, {}))).wallMs);
      const listDefaultBytes = lastBytes;
      const listAll = await repeat(5, async () => (await measure(() => client.request(JobsList, { limit: 10_000 }))).wallMs);
      const listAllBytes = lastBytes;
      // A Prometheus scrape (gauges read from the registry: jobs by state and kind, health) with these jobs stored.
      let scrapeBytes = 0;
      const scrape = await repeat(REFRESH_RUNS, async () => (await measure(async () => (scrapeBytes = Buffer.byteLength(await app.metrics.scrape())))).wallMs);
      rpc = { listDefaultP50Ms: median(listDefault), listDefaultBytes, listAllP50Ms: median(listAll), listAllBytes, listAllRuns: listAll.length, scrapeP50Ms: median(scrape), scrapeBytes };
    } catch (err) {
      rpc = { error: (err as Error).message };
    }

    return {
      jobs: n,
      source: 'replayed',
      first,
      steady: steadyOf(runs),
      recordsOk: recordsOk(app, n, expectedFrom(squeueT, pathsT)),
      warnings,
      templates: { squeue: squeueT.source, paths: pathsT.source },
      builtMidCycle: replay.built,
      registryInsertMs: insert.wallMs,
      notifications: firstNotifications,
      parts: { activeQueryMs: active, parseSqueueMs: parse, squeueBytes: Buffer.byteLength(output), findPerJobMs: find },
      rpc,
    };
  } finally {
    for (const c of rpcClient) c.close();
    await app.close();
    db.close();
  }
}

async function repeat<T>(n: number, f: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await f());
  return out;
}

// ------------------------------------------------------------ warm vs cold

interface RefreshFigures {
  runs: number;
  jobs: number;
  warmP50Ms: number;
  warmP90Ms: number;
  coldP50Ms: number;
  coldP90Ms: number;
  ratio: number;
  sshVersion: string;
}

function runSsh(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function warmVsCold(env: ClusterEnv, ids: readonly string[]): Promise<RefreshFigures> {
  const argv = squeueCommand(ids);
  const sshArgs = [
    '-p', String(env.port),
    '-i', env.identityFile,
    '-o', `UserKnownHostsFile=${env.knownHostsFile}`,
    '-o', 'BatchMode=yes',
    '-o', 'IdentitiesOnly=yes',
    // A new connection every time, whatever the user's ssh config says about multiplexing.
    '-o', 'ControlPath=none',
    `${env.user}@${env.host}`,
    shellCommand(argv),
  ];
  const session = new SshSession({ name: 'bench-warm', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  try {
    await session.connect();
    const rows = (out: string) => out.split('\n').filter((l) => l.trim() !== '').length;
    const check = (what: string, r: { code: number | null; stdout: string; stderr: string }) => {
      if (r.code !== 0 || rows(r.stdout) !== ids.length) throw new Error(`${what} squeue: exit ${r.code}, ${rows(r.stdout)} rows for ${ids.length} jobs: ${r.stderr.trim().slice(0, 300)}`);
    };
    // One untimed run of each first (caches, page cache, the daemon's first channel).
    check('warm', await session.exec(argv));
    check('cold', await runSsh(sshArgs));
    const warm: number[] = [];
    const cold: number[] = [];
    // Alternated, so drift on the machine affects both alike.
    for (let i = 0; i < REFRESH_RUNS; i++) {
      let t0 = performance.now();
      check('warm', await session.exec(argv));
      warm.push(performance.now() - t0);
      t0 = performance.now();
      check('cold', await runSsh(sshArgs));
      cold.push(performance.now() - t0);
    }
    // ssh -V prints on stderr.
    const v = spawnSync('ssh', ['-V'], { encoding: 'utf8' });
    const sshVersion = `${v.stderr ?? ''}${v.stdout ?? ''}`.trim();
    const warmP50 = median(warm);
    const coldP50 = median(cold);
    return {
      runs: REFRESH_RUNS,
      jobs: ids.length,
      warmP50Ms: warmP50,
      warmP90Ms: quantile(warm, 0.9),
      coldP50Ms: coldP50,
      coldP90Ms: quantile(cold, 0.9),
      ratio: coldP50 / warmP50,
      sshVersion,
    };
  } finally {
    await session.close();
  }
}

// ------------------------------------------------------------ held jobs on the cluster

class HeldJobs {
  readonly runId = randomUUID().slice(0, 8);
  ids: string[] = [];
  private submitted = false;
  private cleaned = false;
  cancelled = 0;
  left = -1;

  constructor(private readonly ssh: SshSession) {}

  get comment(): string {
    return `slurm-ml-bench:${this.runId}`;
  }

  /** n held jobs in one ssh command, as the integration tests do; each carries this run's comment. */
  async submit(n: number): Promise<void> {
    this.submitted = true;
    const sbatch = `sbatch --parsable --hold --job-name=bench --output=/dev/null --comment=${this.comment} --wrap=true`;
    const r = await this.ssh.exec(['bash', '-c', `for i in $(seq ${n}); do ${sbatch} || exit 1; done`], { timeoutMs: 300_000 });
    this.ids = r.stdout.split('\n').map((l) => l.trim().split(';')[0]!).filter((l) => /^\d+$/.test(l));
    if (r.code !== 0 || this.ids.length !== n) throw new Error(`submitting ${n} held jobs: exit ${r.code}, ${this.ids.length} submitted: ${r.stderr.trim().slice(0, 300)}`);
  }

  /** scancel by id, then whatever else of this run is still queued (found by its comment). */
  async cleanUp(): Promise<void> {
    if (!this.submitted || this.cleaned) return;
    this.cleaned = true;
    const mine = `squeue --me --noheader --name=bench --format='%i %k' | awk -v c='${this.comment}' '$2 == c { print $1 }'`;
    const script = [
      this.ids.length > 0 ? `scancel ${this.ids.join(' ')} 2>/dev/null` : 'true',
      `rest=$(${mine})`,
      '[ -z "$rest" ] || scancel $rest',
      `${mine} | wc -l`,
    ].join('; ');
    const r = await this.ssh.exec(['bash', '-c', script], { timeoutMs: 120_000 });
    this.cancelled = this.ids.length;
    this.left = Number(r.stdout.trim());
    if (!Number.isFinite(this.left)) this.left = -1;
  }
}

// ------------------------------------------------------------ report

function commandsText(c: CycleFigures): string {
  return `${c.commands} (${c.kinds.join(', ') || 'none'})`;
}

function main(): Promise<number> {
  const rows: Row[] = [];
  const errors: string[] = [];
  const notes: string[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-bench-'));
  const result: Record<string, unknown> = {
    bench: 'slurm-ml',
    at: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
  };
  let ssh: SshSession | undefined;
  let held: HeldJobs | undefined;
  const real: RealCase[] = [];
  let refresh: RefreshFigures | undefined;
  let replayed: ReplayCase | undefined;
  const rt: { train?: TrainFigures; inDaemon?: InDaemonFigures; ws?: WsFigures | { skipped: string }; batch?: BatchFigures; seconds?: number } = {};
  const partsDone: { name: string; seconds: number; result?: PartResult; error?: string; skipped?: string }[] = [];

  const runParts = async (): Promise<void> => {
    for (const p of PARTS) {
      if (onlyParts && !onlyParts.includes(p.name)) continue;
      if (argv.has(`--no-${p.name}`)) continue;
      if (p.onlyWith && !argv.has(p.onlyWith) && !onlyParts?.includes(p.name)) continue;
      if (p.needsCluster && !useCluster) {
        partsDone.push({ name: p.name, seconds: 0, skipped: '--no-cluster' });
        continue;
      }
      const t0 = performance.now();
      progress(`part ${p.name}`);
      try {
        const r = await p.run({ dir, useCluster, argv, progress });
        partsDone.push({ name: p.name, seconds: (performance.now() - t0) / 1000, result: r });
      } catch (err) {
        partsDone.push({ name: p.name, seconds: (performance.now() - t0) / 1000, error: (err as Error).stack ?? String(err) });
        errors.push(`part ${p.name}: ${(err as Error).message}`);
      }
    }
  };

  const cleanUp = async () => {
    try {
      await held?.cleanUp();
    } catch (err) {
      errors.push(`cleanup: ${(err as Error).message} (cancel jobs commented ${held?.comment} by hand)`);
    }
  };
  // Ctrl-C: the held jobs go too.
  const onSignal = (sig: NodeJS.Signals) => {
    progress(`${sig}: cancelling this run's jobs`);
    void cleanUp().finally(() => {
      void ssh?.close();
      fs.rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  // First, so the process's RSS high-water mark is the training's and not the 10,000-job replay's.
  const runtimePart = async (): Promise<void> => {
    const t0 = performance.now();
    let trained: Trained | undefined;
    try {
      progress('runtime: reading the LANL-CM5 trace and training the runtime model on 100,000 jobs');
      trained = await trainFigures();
      rt.train = trained.figures;
    } catch (err) {
      errors.push(`runtime training: ${(err as Error).stack ?? err}`);
    }
    if (trained) {
      try {
        progress('runtime: single estimates in an in-process daemon');
        rt.inDaemon = await inDaemonFigures(newApp, dir, trained);
      } catch (err) {
        errors.push(`runtime estimate in the daemon: ${(err as Error).stack ?? err}`);
      }
      try {
        progress('runtime: batch throughput');
        rt.batch = await batchFigures(trained);
      } catch (err) {
        errors.push(`runtime batch: ${(err as Error).message}`);
      }
    }
    if (!useCluster) rt.ws = { skipped: '--no-cluster' };
    else if (!fs.existsSync(path.join(__dirname, '..', '..', 'dist', 'daemon.js'))) rt.ws = { skipped: 'no dist/daemon.js (npm run build)' };
    else {
      try {
        const env = loadClusterEnv();
        progress('runtime: estimates over the WebSocket of a real daemon');
        rt.ws = await wsFigures(env, dir);
      } catch (err) {
        errors.push(`runtime over the WebSocket: ${(err as Error).message}`);
      }
    }
    rt.seconds = (performance.now() - t0) / 1000;
  };

  const run = async (): Promise<void> => {
    const started = performance.now();
    if (onlyParts) {
      await runParts();
      result.totalSeconds = round((performance.now() - started) / 1000, 1);
      return;
    }
    if (useRuntime) await runtimePart();
    if (runtimeOnly) {
      result.totalSeconds = round((performance.now() - started) / 1000, 1);
      return;
    }
    if (useCluster) {
      try {
        const env = loadClusterEnv();
        ssh = new SshSession({ name: 'bench', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
        await ssh.connect();
        result.slurm = (await ssh.exec(['squeue', '--version'])).stdout.trim();
        held = new HeldJobs(ssh);
        const max = Math.max(...REAL_COUNTS);
        progress(`submitting ${max} held jobs on ${env.host}:${env.port}`);
        const sub = await measure(() => held!.submit(max));
        result.submitHeldJobs = { jobs: max, wallMs: round(sub.wallMs) };
        for (const n of REAL_COUNTS) {
          progress(`${n} real jobs: first cycle and ${STEADY_RUNS_REAL} steady cycles`);
          real.push(await realCase(env, held.ids.slice(0, n), dir));
        }
        progress(`status refresh: warm session vs new ssh connection, ${REFRESH_RUNS} runs each`);
        refresh = await warmVsCold(env, held.ids.slice(0, 10));
      } catch (err) {
        errors.push(`real cluster: ${(err as Error).message}`);
      } finally {
        progress('cancelling the held jobs');
        await cleanUp();
      }
    }
    // Templates for the replay: real rows of this run's jobs when there are some, else the recorded fixtures.
    const big = real.find((r) => r.squeueOutput && r.pathsOutput);
    let squeueT: RowTemplate;
    let pathsT: RowTemplate;
    if (big) {
      squeueT = firstRow(big.squeueOutput, `live squeue row of held job (this run)`);
      pathsT = firstRow(big.pathsOutput, `live squeue --Format row (this run)`);
    } else {
      const heldId = jobIdOf('pendingHeld');
      const line = fixture('squeue-pending.txt').split('\n').find((l) => l.startsWith(`${heldId}\x1f`));
      squeueT = { line: line ?? '', id: heldId, source: 'test/fixtures/slurm/squeue-pending.txt (held job)' };
      pathsT = firstRow(fixture('squeue-paths-running.txt'), 'test/fixtures/slurm/squeue-paths-running.txt');
    }
    try {
      progress(`${REPLAY_COUNT} replayed jobs: first cycle, ${STEADY_RUNS_REPLAY} steady cycles, jobs/list`);
      replayed = await replayCase(REPLAY_COUNT, squeueT, pathsT, dir);
    } catch (err) {
      errors.push(`replay: ${(err as Error).message}`);
    }
    await runParts();
    result.totalSeconds = round((performance.now() - started) / 1000, 1);
  };

  return run()
    .catch((err: unknown) => {
      errors.push((err as Error).stack ?? String(err));
    })
    .then(async () => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      await ssh?.close();
      fs.rmSync(dir, { recursive: true, force: true });

      // Commands per cycle.
      const cases: CaseFigures[] = [...real, ...(replayed ? [replayed] : [])];
      for (const c of cases) {
        const jobs = c.jobs.toLocaleString('en-US');
        const firstOk = c.first.commands <= 2 && c.first.changed === c.jobs;
        const steadyOk = c.steady.commandsSeen.length === 1 && c.steady.commands === 1 && c.steady.changedSeen.join() === '0';
        const timing = (f: CycleFigures) =>
          c.source === 'real' ? `wall ${ms(f.wallMs)} (ssh ${ms(f.sshMs)}), cpu ${ms(f.cpuMs)}` : `cpu ${ms(f.cpuMs)}, wall ${ms(f.wallMs)}`;
        rows.push({
          figure: 'commands, first cycle',
          jobs,
          source: c.source,
          value: commandsText(c.first),
          goal: '≤ 2',
          met: firstOk,
          note: `${c.first.changed} changed; ${timing(c.first)}`,
        });
        rows.push({
          figure: 'commands, steady cycle',
          jobs,
          source: c.source,
          value: commandsText(c.steady),
          goal: '1',
          met: steadyOk,
          note: `p50 of ${c.steady.runs}: ${timing(c.steady)}${c.steady.changedSeen.join() === '0' ? '' : `; changed ${c.steady.changedSeen.join('/')}`}`,
        });
        if (!c.recordsOk) notes.push(`${c.source} ${jobs}: the records did not all end as squeue reported the jobs (PENDING, its reason, its output path)`);
        if (c.warnings > 0) notes.push(`${c.source} ${jobs}: the daemon logged ${c.warnings} warnings or errors during the cycles`);
      }
      // CPU at 10,000.
      if (replayed) {
        const cpu = replayed.steady.cpuMs;
        rows.push({
          figure: 'daemon CPU, steady cycle',
          jobs: REPLAY_COUNT.toLocaleString('en-US'),
          source: 'replayed',
          value: ms(cpu),
          goal: `≤ ${CPU_GOAL_MS} ms`,
          met: cpu <= CPU_GOAL_MS,
          note: `median of ${replayed.steady.runs} ticks: [${replayed.steady.cpuRunsMs.join(', ')}]; no SSH in it`,
        });
        rows.push({
          figure: 'daemon CPU, first cycle',
          jobs: REPLAY_COUNT.toLocaleString('en-US'),
          source: 'replayed',
          value: ms(replayed.first.cpuMs),
          goal: '',
          note: `${replayed.first.changed} jobs changed; ${replayed.notifications.count} jobs/didChange to 1 client, ${bytes(replayed.notifications.bytes)}`,
        });
        const p = replayed.parts;
        rows.push({
          figure: '  part: JobStore.activeRefs()',
          jobs: REPLAY_COUNT.toLocaleString('en-US'),
          source: 'replayed',
          value: ms(p.activeQueryMs),
          goal: '',
          note: 'each tick reads what it needs of every followed job',
        });
        rows.push({
          figure: '  part: parseSqueue',
          jobs: REPLAY_COUNT.toLocaleString('en-US'),
          source: 'replayed',
          value: ms(p.parseSqueueMs),
          goal: '',
          note: `${bytes(p.squeueBytes)} of squeue output (a steady tick parses only rows that changed)`,
        });
        rows.push({
          figure: '  part: JobStore.find() × jobs',
          jobs: REPLAY_COUNT.toLocaleString('en-US'),
          source: 'replayed',
          value: ms(p.findPerJobMs),
          goal: '',
          note: 'the full record of every job; a tick reads it only for jobs whose row changed',
        });
        const rpc = replayed.rpc;
        if ('error' in rpc) errors.push(`jobs/list: ${rpc.error}`);
        else rows.push({
          figure: 'jobs/list (default limit 100)',
          jobs: REPLAY_COUNT.toLocaleString('en-US'),
          source: 'in-memory',
          value: ms(rpc.listDefaultP50Ms),
          goal: '',
          note: `p50 of ${REFRESH_RUNS}; reply ${bytes(rpc.listDefaultBytes)}`,
        }, {
          figure: 'jobs/list (limit 10,000)',
          jobs: REPLAY_COUNT.toLocaleString('en-US'),
          source: 'in-memory',
          value: ms(rpc.listAllP50Ms),
          goal: '',
          note: `p50 of ${rpc.listAllRuns}; reply ${bytes(rpc.listAllBytes)}`,
        }, {
          figure: 'metrics scrape',
          jobs: REPLAY_COUNT.toLocaleString('en-US'),
          source: 'in-memory',
          value: ms(rpc.scrapeP50Ms),
          goal: '',
          note: `p50 of ${REFRESH_RUNS}; ${bytes(rpc.scrapeBytes)} of exposition text (the HTTP endpoint adds only the socket)`,
        });
        if (replayed.builtMidCycle > 0) notes.push(`the replay built ${replayed.builtMidCycle} outputs during cycles (counted in their CPU)`);
      }
      if (refresh) {
        rows.push({
          figure: 'status refresh, warm session',
          jobs: String(refresh.jobs),
          source: 'real',
          value: ms(refresh.warmP50Ms),
          goal: '',
          note: `p50 of ${refresh.runs} (p90 ${ms(refresh.warmP90Ms)}); daemon's SshSession, connected`,
        });
        rows.push({
          figure: 'status refresh, new ssh each time',
          jobs: String(refresh.jobs),
          source: 'real',
          value: ms(refresh.coldP50Ms),
          goal: '',
          note: `p50 of ${refresh.runs} (p90 ${ms(refresh.coldP90Ms)}); ${refresh.sshVersion}`,
        });
        rows.push({
          figure: 'status refresh, cold / warm',
          jobs: String(refresh.jobs),
          source: 'real',
          value: `${refresh.ratio.toFixed(1)}×`,
          goal: `≥ ${WARM_GOAL_RATIO}×`,
          met: refresh.ratio >= WARM_GOAL_RATIO,
        });
      }

      // Runtime estimates.
      const lat = (l: Latency) => `p50 ${ms(l.p50Ms)}, p99 ${ms(l.p99Ms)}`;
      const rate = (r: number) => `${Math.round(r).toLocaleString('en-US')} rows/s`;
      if (rt.train) {
        const t = rt.train;
        const jobs = t.trainJobs.toLocaleString('en-US');
        rows.push({
          figure: 'runtime model: training',
          jobs,
          source: 'LANL-CM5',
          value: `${(t.trainMs / 1000).toFixed(1)} s`,
          goal: `≤ ${RT.trainSeconds} s`,
          met: t.trainMs / 1000 <= RT.trainSeconds,
          note: `${t.where}; 3 quantiles × ${t.options.trees} trees ≤ ${t.options.maxLeaves} leaves (as runtime train), ${t.trees} trees; before it: trace read ${ms(t.readMs)}, features ${ms(t.featuresMs)} (${t.traceJobs.toLocaleString('en-US')} jobs)`,
        });
        rows.push({
          figure: 'runtime model: peak memory',
          jobs,
          source: 'LANL-CM5',
          value: `${Math.round(t.maxRssMB)} MiB`,
          goal: `≤ ${RT.trainMB} MB`,
          met: t.maxRssMB * 1.048576 <= RT.trainMB,
          note: `process maxRSS (resourceUsage) since start: tsx, trace, features, training${t.sampledPeakMB !== null ? `; RSS sampled /50 ms during training: ${Math.round(t.rssBeforeMB)} → peak ${Math.round(t.sampledPeakMB)} MiB` : ''}`,
        });
      }
      if (rt.inDaemon) {
        const d = rt.inDaemon;
        const jobs = d.historyJobs.toLocaleString('en-US');
        rows.push({
          figure: 'estimate, in the daemon',
          jobs,
          source: 'in-process',
          value: lat(d.service),
          goal: `p99 ≤ ${RT.inDaemonP99Ms} ms`,
          met: d.service.p99Ms <= RT.inDaemonP99Ms,
          note: `RuntimeService.estimate(), ${d.service.runs} runs after ${RT_WARMUP} untimed, source ${d.source}; session stubbed (asked: ${d.sessionCalls.join(', ') || 'nothing'}), ingest fresh; first ${ms(d.firstMs)} (history of ${jobs} jobs + model load)`,
        });
        rows.push({
          figure: 'estimate, runtime/estimate handler',
          jobs,
          source: 'in-memory',
          value: lat(d.rpc),
          goal: '',
          note: `the same through the dispatcher and the in-memory transport (JSON, zod); max ${ms(d.rpc.maxMs)}`,
        });
        for (const [label, p] of Object.entries(d.parts)) {
          rows.push({ figure: `  part: ${label.replace(/ \(.*/, '')}`, jobs, source: 'in-process', value: `p50 ${ms(p.p50Ms)}, p99 ${ms(p.p99Ms)}`, goal: '', note: /\((.*)\)/.exec(label)?.[1] ?? '' });
        }
      }
      if (rt.ws && 'skipped' in rt.ws) notes.push(`runtime estimate over the WebSocket: skipped (${rt.ws.skipped})`);
      else if (rt.ws) {
        const w = rt.ws;
        rows.push({
          figure: 'estimate, over the WebSocket',
          jobs: 'jobs' in w.train ? w.train.jobs.toLocaleString('en-US') : '—',
          source: 'real',
          value: lat(w.ws),
          goal: `p99 ≤ ${RT.wsP99Ms} ms`,
          met: w.ws.p99Ms <= RT.wsP99Ms,
          note: `dist/daemon.js, ${w.ws.runs} sequential after ${RT_WARMUP} untimed, source ${w.source}, max ${ms(w.ws.maxMs)}; first ${ms(w.firstMs)} (id -un over SSH); before it, runtime/train connected, read sacct and trained: ${'error' in w.train ? `failed: ${w.train.error.slice(0, 120)}` : `${ms(w.train.ms)} (v${w.train.version}, ${w.train.jobs} jobs)`}${w.daemonMaxRssMB !== null ? `; daemon maxRSS ${Math.round(w.daemonMaxRssMB)} MiB` : ''}`,
        });
      }
      if (rt.batch) {
        const b = rt.batch;
        const jobs = b.rows.toLocaleString('en-US');
        rows.push({
          figure: 'batch, TS tree walk (not served)',
          jobs,
          source: 'in-process',
          value: rate(b.ts.rowsPerSecond),
          goal: '',
          note: `reference (training, gate, replay use it): ${ms(b.ts.ms)} for ${jobs} rows in this thread: predict ${ms(b.ts.predictMs)} + applyCalibration ${ms(b.ts.calibrationMs)}`,
        });
        if ('error' in b.onnx) notes.push(`onnxruntime-node batch: ${b.onnx.error}`);
        else rows.push({
          figure: 'batch, served (onnxruntime-node)',
          jobs,
          source: 'in-process',
          value: rate(b.onnx.rowsPerSecond),
          goal: `≥ ${RT.rowsPerSecond.toLocaleString('en-US')} rows/s`,
          met: b.onnx.rowsPerSecond >= RT.rowsPerSecond,
          note: `RuntimePredictor: worker thread, 1 session, intraOpNumThreads 1, chunks of ${b.onnx.chunkRows.toLocaleString('en-US')} rows; best of ${b.onnx.runs}: ${ms(b.onnx.ms)}; event loop max stall ${ms(b.onnx.eventLoopMaxMs)} (the same run in this thread: ${ms(b.onnx.inThreadMs)}); ${bytes(b.onnx.bytes)}, load ${ms(b.onnx.loadMs)}; max |Δ| vs TS ${b.onnx.maxAbsDiff.toExponential(1)}`,
        });
      }

      for (const p of partsDone) {
        if (p.result) {
          rows.push(...p.result.rows);
          notes.push(...(p.result.notes ?? []));
        } else if (p.skipped) notes.push(`${p.name}: skipped (${p.skipped})`);
      }

      const out: string[] = [];
      out.push(`slurm-ml bench — ${result.at}, node ${process.version}, ${os.cpus().length} × ${String(result.cpuModel).trim()}${result.slurm ? `, ${result.slurm}` : ''}`);
      out.push('');
      out.push(table(rows));
      out.push('');
      out.push('real: held jobs on the local cluster, over the daemon\'s SSH session to its sshd (127.0.0.1, so SSH time is a floor).');
      if (replayed) out.push(`replayed: a RemoteSession answering squeue with real rows, job ids substituted (squeue: ${replayed.templates.squeue}; paths: ${replayed.templates.paths}). No SSH in those figures.`);
      out.push('cpu: process.cpuUsage() (user + system) around Poller.tick(); the database is a WAL file as in the daemon; log level info.');
      if (result.submitHeldJobs) out.push(`setup: ${REAL_COUNTS.at(-1)} held jobs submitted in ${ms((result.submitHeldJobs as { wallMs: number }).wallMs)}; cleanup: ${held?.cancelled ?? 0} cancelled, ${held?.left ?? '?'} of this run's jobs left queued.`);
      if (rt.seconds !== undefined) out.push(`runtime: LANL-CM5 (Parallel Workloads Archive); y = log runtime; the first ${rt.train?.trainJobs ?? 100_000} jobs in submit order train, the rest calibrate (80 %); part took ${rt.seconds.toFixed(1)} s.`);
      for (const n of notes) out.push(`note: ${n}`);
      for (const e of errors) out.push(`error: ${e}`);
      process.stdout.write(out.join('\n') + '\n');

      const slim = (c: CaseFigures) => ({
        jobs: c.jobs,
        source: c.source,
        first: { commands: c.first.commands, changed: c.first.changed, kinds: c.first.kinds, wallMs: round(c.first.wallMs), cpuMs: round(c.first.cpuMs), sshMs: round(c.first.sshMs) },
        steady: { commands: c.steady.commands, changed: c.steady.changed, kinds: c.steady.kinds, runs: c.steady.runs, wallMsP50: round(c.steady.wallMs), cpuMsP50: round(c.steady.cpuMs), sshMsP50: round(c.steady.sshMs) },
        recordsOk: c.recordsOk,
      });
      Object.assign(result, {
        commandsPerCycle: cases.map(slim),
        cpu10000: replayed
          ? { steadyMedianMs: round(replayed.steady.cpuMs), steadyRunsMs: replayed.steady.cpuRunsMs, firstMs: round(replayed.first.cpuMs), goalMs: CPU_GOAL_MS, met: replayed.steady.cpuMs <= CPU_GOAL_MS, parts: replayed.parts, notifications: replayed.notifications }
          : null,
        statusRefresh: refresh ? { ...refresh, warmP50Ms: round(refresh.warmP50Ms), warmP90Ms: round(refresh.warmP90Ms), coldP50Ms: round(refresh.coldP50Ms), coldP90Ms: round(refresh.coldP90Ms), ratio: round(refresh.ratio), goal: WARM_GOAL_RATIO, met: refresh.ratio >= WARM_GOAL_RATIO } : null,
        rpc: replayed ? { jobs: REPLAY_COUNT, ...replayed.rpc } : null,
        runtime: useRuntime ? { ...rt, goals: RT } : null,
        cleanup: held ? { comment: held.comment, cancelled: held.cancelled, left: held.left } : null,
        parts: Object.fromEntries(partsDone.map((p) => [p.name, { seconds: round(p.seconds, 1), ...(p.result?.json ?? {}), ...(p.error ? { error: p.error } : {}), ...(p.skipped ? { skipped: p.skipped } : {}) }])),
        // The table itself: figure, value, goal, met (true/false; null: no goal).
        table: rows.map((r) => ({ figure: r.figure, jobs: r.jobs, source: r.source, value: r.value, goal: r.goal, met: r.met ?? null, note: r.note ?? '', ...('number' in r ? { number: (r as { number: number }).number } : {}) })),
        errors,
      });
      process.stdout.write(JSON.stringify(result) + '\n');
      try {
        fs.writeFileSync(OUT_FILE, JSON.stringify(result, null, 2) + '\n');
        progress(`results written to ${OUT_FILE}`);
      } catch (err) {
        progress(`could not write ${OUT_FILE}: ${(err as Error).message}`);
      }
      return errors.length > 0 ? 1 : 0;
    });
}

void main().then((code) => {
  process.exitCode = code;
});
