// The bench's "runtime estimates" part: training cost of the runtime model,
// single-estimate latency inside the daemon and over its WebSocket, and batch
// throughput. Data: the LANL-CM5 trace (Parallel Workloads Archive) in
// /work/shared/data/traces, read as `slurm-ml` reads SWF.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { App } from '../../daemon/app';
import type { RemoteSession, ExecResult } from '../../daemon/connections';
import type { Db } from '../../daemon/db/database';
import { ModelStore } from '../../daemon/db/models';
import { createLogger } from '../../daemon/log';
import { ClustersAdd, Initialize, PROTOCOL_VERSION, RuntimeEstimateRequest, RuntimeTrain, type RuntimeEstimate } from '../../daemon/protocol';
import { RpcConnection } from '../../daemon/rpc/connection';
import { createMemoryTransportPair, webSocketTransport } from '../../daemon/rpc/transport';
import { applyCalibration, calibrate, predictCalibrated, type Calibration } from '../../daemon/runtime/conformal';
import { FEATURE_COUNT, FEATURE_NAMES, featuresOf } from '../../daemon/runtime/features';
import { GBDT_DEFAULTS, ensemblesOf, trainInWorker, trainQuantileGbdt, type Dataset, type QuantileModel } from '../../daemon/runtime/gbdt';
import { JobHistory } from '../../daemon/runtime/history';
import { exportOnnx } from '../../daemon/runtime/onnxExport';
import { replayFeatures } from '../../daemon/runtime/replay';
import { CHUNK_ROWS, IN_THREAD_ROWS, RuntimePredictor } from '../../daemon/runtime/serve';
import { runtimeModelName, RuntimeService, RUNTIME_TRAIN_OPTIONS } from '../../daemon/runtime/service';
import { RuntimeStore } from '../../daemon/runtime/store';
import { readTrace, type JobRecord } from '../../daemon/runtime/traces';
import { parseSbatchScript } from '../../daemon/slurm/directives';
import type { ClusterEnv } from '../integration/clusterEnv';
import { startDaemon, type RunningDaemon } from '../integration/daemonProcess';
import { measure, median, progress, quantile } from './util';

export const TRACE = process.env.SLURM_ML_BENCH_TRACE ?? '/work/shared/data/traces/LANL-CM5-1994-4.1-cln.swf.gz';
export const TRAIN_JOBS = 100_000;
export const QUANTILES = [0.1, 0.5, 0.9];
export const ESTIMATES = 1_000;
/** Whole batches timed through the served path (the best is reported). */
export const BATCH_RUNS = 3;
/** Untimed estimates before the timed ones (JIT, caches). */
export const WARMUP = 50;
export const GOALS = { trainSeconds: 60, trainMB: 500, inDaemonP99Ms: 1, wsP99Ms: 5, rowsPerSecond: 100_000 } as const;
const BUNDLED_WORKER = path.resolve(__dirname, '..', '..', 'dist', 'gbdtWorker.js');

export interface Latency {
  runs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function latency(samples: number[]): Latency {
  return { runs: samples.length, p50Ms: median(samples), p99Ms: quantile(samples, 0.99), maxMs: Math.max(...samples) };
}

async function timed(n: number, f: () => Promise<unknown> | unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f();
    out.push(performance.now() - t0);
  }
  return out;
}

// ------------------------------------------------------------ 1. training

export interface TrainFigures {
  traceJobs: number;
  trainJobs: number;
  calibrationJobs: number;
  readMs: number;
  featuresMs: number;
  trainMs: number;
  /** 'worker: dist/gbdtWorker.js' or 'in-thread'. */
  where: string;
  /** process.resourceUsage().maxRSS: the process's high-water RSS since it started (everything before too). */
  maxRssMB: number;
  /** RSS just before training, and the highest RSS sampled every 50 ms during it (worker only: in-thread blocks the sampler). */
  rssBeforeMB: number;
  sampledPeakMB: number | null;
  trees: number;
  options: { [K in keyof typeof GBDT_DEFAULTS]: number };
}

export interface Trained {
  figures: TrainFigures;
  model: QuantileModel;
  calibration: Calibration;
  /** Features of the training rows (a copy kept for the batch figure). */
  X: Float64Array;
  jobs: JobRecord[];
}

const mb = (bytes: number) => bytes / 1024 / 1024;

export async function trainFigures(): Promise<Trained> {
  const read = await measure(() => readTrace(TRACE));
  const trace = read.value;
  const feats = await measure(async () => replayFeatures(trace.jobs, trace.info.utcOffsetSeconds));
  const f = feats.value;
  const n = Math.min(TRAIN_JOBS, f.jobs.length);
  const y = Float64Array.from(f.jobs, (j) => Math.log(j.runtime));
  const slice = (from: number, to: number): Dataset => ({
    n: to - from,
    d: FEATURE_COUNT,
    X: f.X.slice(from * FEATURE_COUNT, to * FEATURE_COUNT),
    y: y.slice(from, to),
    featureNames: [...FEATURE_NAMES],
  });
  const train = slice(0, n);
  const X = train.X.slice();
  // As RuntimeService.train trains the model it serves.
  const opts = { quantiles: QUANTILES, seed: 1, ...RUNTIME_TRAIN_OPTIONS };
  const useWorker = fs.existsSync(BUNDLED_WORKER);
  const rssBefore = process.memoryUsage.rss();
  let peak = rssBefore;
  const sampler = useWorker ? setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50) : undefined;
  let t: Awaited<ReturnType<typeof measure<QuantileModel>>>;
  try {
    t = await measure(async () => (useWorker ? trainInWorker(train, opts, BUNDLED_WORKER) : trainQuantileGbdt(train, opts)));
  } finally {
    if (sampler) clearInterval(sampler);
  }
  const model = t.value;
  // The trace's jobs after the first 100,000 calibrate the interval, as train() does with its 15 %.
  const calibration: Calibration = n < f.jobs.length ? calibrate(model, slice(n, f.jobs.length), 0.8) : { lower: 0, upper: 0, coverage: 0.8 };
  const trees = ensemblesOf(model).reduce((s, e) => s + e.trees.length, 0);
  return {
    figures: {
      traceJobs: f.jobs.length,
      trainJobs: n,
      calibrationJobs: f.jobs.length - n,
      readMs: read.wallMs,
      featuresMs: feats.wallMs,
      trainMs: t.wallMs,
      where: useWorker ? `worker: ${path.relative(process.cwd(), BUNDLED_WORKER)}` : 'in-thread (no dist/gbdtWorker.js)',
      maxRssMB: process.resourceUsage().maxRSS / 1024,
      rssBeforeMB: mb(rssBefore),
      sampledPeakMB: useWorker ? mb(peak) : null,
      trees,
      options: { ...GBDT_DEFAULTS, ...RUNTIME_TRAIN_OPTIONS },
    },
    model,
    calibration,
    X,
    jobs: f.jobs,
  };
}

// ------------------------------------------------------------ 2. in the daemon (in-process app)

/** The trace's busiest user and one of their applications: the estimate has history to read. */
function busiest(jobs: readonly JobRecord[]): { user: string; jobName: string } {
  const count = new Map<string, number>();
  for (const j of jobs) count.set(j.user, (count.get(j.user) ?? 0) + 1);
  const user = [...count].sort((a, b) => b[1] - a[1])[0]![0];
  const jobName = [...jobs].reverse().find((j) => j.user === user)?.jobName ?? '';
  return { user, jobName };
}

function script(jobName: string): string {
  return ['#!/bin/bash', `#SBATCH --job-name=${jobName || 'bench'}`, '#SBATCH --time=01:00:00', '#SBATCH --ntasks=32', '#SBATCH --mem=4G', 'srun ./a.out', ''].join('\n');
}

/** A session for `id -un` and an empty sacct; counts what it is asked. */
class StubSession implements RemoteSession {
  readonly hostKeyFingerprint = undefined;
  readonly calls: string[] = [];
  constructor(private readonly user: string) {}
  async exec(argv: string[]): Promise<ExecResult> {
    this.calls.push(argv[0] ?? '');
    if (argv[0] === 'id') return { code: 0, signal: null, stdout: `${this.user}\n`, stderr: '' };
    if (argv.includes('sacct')) return { code: 0, signal: null, stdout: '', stderr: '' };
    return { code: 127, signal: null, stdout: '', stderr: `bench stub: ${argv.join(' ')}\n` };
  }
  async homeDir(): Promise<string> {
    return '/home/bench';
  }
  writeFile(): Promise<void> {
    return Promise.reject(new Error('bench stub: no files'));
  }
  mkdirp(): Promise<void> {
    return Promise.reject(new Error('bench stub: no files'));
  }
  readRange(): Promise<Buffer> {
    return Promise.reject(new Error('bench stub: no files'));
  }
  stat(): Promise<{ size: number; mtime: number }> {
    return Promise.reject(new Error('bench stub: no files'));
  }
}

export interface InDaemonFigures {
  historyJobs: number;
  setupMs: number;
  firstMs: number;
  /** RuntimeService.estimate() called directly (session lookup, ingest freshness check, estimateOne). */
  service: Latency;
  /** runtime/estimate over the in-memory transport: + JSON, zod and the dispatcher. */
  rpc: Latency;
  source: string;
  /** What the stubbed session was asked during the estimates (after the first). */
  sessionCalls: string[];
  /** Pieces of one estimate, p50 / p99 over the same number of runs. */
  parts: Record<string, { p50Ms: number; p99Ms: number }>;
}

export async function inDaemonFigures(newApp: (dir: string, name: string) => { app: App; db: Db }, dir: string, t: Trained): Promise<InDaemonFigures> {
  const setup0 = performance.now();
  const { app, db } = newApp(dir, 'runtime');
  const clients: { close(): void | Promise<void> }[] = [];
  try {
    const name = 'bench-rt';
    const cluster = app.clusters.add({ name, host: '127.0.0.1', port: 22, user: 'bench', knownHostsFile: path.join(dir, 'known_hosts') });
    const who = busiest(t.jobs);
    const stub = new StubSession(who.user);
    app.connections.session = async () => stub;
    // The cluster's finished jobs, and an ingest just done (an empty sacct answer sets the watermark to now).
    const store = new RuntimeStore(db);
    store.add(cluster.id, t.jobs);
    await store.ingest(cluster, stub);
    // The trained model registered and promoted the way RuntimeService.train does.
    const models = new ModelStore(db);
    const modelName = runtimeModelName(name);
    const modelDir = path.join(dir, 'runtime-models', modelName, randomUUID());
    fs.mkdirSync(modelDir, { recursive: true });
    const file = path.join(modelDir, 'model.json');
    fs.writeFileSync(file, JSON.stringify({ model: t.model.toJSON(), calibration: t.calibration }));
    // Estimates are served from the ONNX file (onnxruntime in a worker), as after RuntimeService.train.
    const onnxFile = path.join(modelDir, 'model.onnx');
    fs.writeFileSync(onnxFile, exportOnnx(t.model, t.calibration));
    const v = models.registerVersion({
      model: modelName,
      clusterId: cluster.id,
      artifactPath: modelDir,
      artifacts: [file, onnxFile].map((f) => ({ path: f, size: fs.statSync(f).size })),
      metrics: { training_jobs: t.figures.trainJobs },
      trainingJobId: null,
      gitCommit: null,
      tags: { kind: 'runtime' },
    });
    models.promote({ name: modelName, version: v.version, alias: 'prod', who: 'bench', reason: 'bench' });
    // The daemon's RuntimeService is inside createApp; this one has the same dependencies and database.
    const service = new RuntimeService({ clusters: app.clusters, connections: app.connections, store, models, modelsDir: path.join(dir, 'runtime-models'), log: createLogger({ level: 'warn', write() {} }), worker: false });
    clients.push(service);
    const [serverEnd, clientEnd] = createMemoryTransportPair();
    app.dispatcher.attach(serverEnd);
    const client = new RpcConnection(clientEnd, { requestTimeoutMs: 120_000 });
    clients.push(client);
    await client.request(Initialize, { protocolVersion: PROTOCOL_VERSION, clientName: 'bench-runtime' });
    const setupMs = performance.now() - setup0;

    const p = { cluster: name, script: script(who.jobName), sbatchArgs: [] as string[], expectedStart: false };
    // First: reads every stored job into the history and loads the model.
    const first = await measure(() => client.request(RuntimeEstimateRequest, p));
    const e: RuntimeEstimate = first.value;
    await service.estimate(p);
    // Warm-up, untimed, then alternated so drift affects both alike.
    stub.calls.length = 0;
    for (let i = 0; i < WARMUP; i++) {
      await service.estimate(p);
      await client.request(RuntimeEstimateRequest, p);
    }
    const svc: number[] = [];
    const rpc: number[] = [];
    for (let i = 0; i < ESTIMATES; i++) {
      let t0 = performance.now();
      await service.estimate(p);
      svc.push(performance.now() - t0);
      t0 = performance.now();
      await client.request(RuntimeEstimateRequest, p);
      rpc.push(performance.now() - t0);
    }

    // Where one estimate's time goes, each piece on its own.
    const parsed = parseSbatchScript(p.script, []);
    const history = new JobHistory();
    for (const j of store.jobs(cluster.id).sort((a, b) => a.end - b.end)) history.ended(j);
    const req = parsed.request;
    const job = { id: '', user: who.user, jobName: req.jobName ?? '', submit: Math.floor(Date.now() / 1000), requestedTime: req.timeLimitSeconds, cpus: req.totalCpus, nodes: req.nodes?.min ?? null, memMB: req.memMB, gpus: req.gpus, partition: req.partition, qos: req.qos, account: req.account };
    const x = featuresOf(job, history);
    const parts: InDaemonFigures['parts'] = {};
    const part = async (label: string, f: () => unknown) => {
      const s = await timed(ESTIMATES, f);
      parts[label] = { p50Ms: median(s), p99Ms: quantile(s, 0.99) };
    };
    await part('parseSbatchScript', () => parseSbatchScript(p.script, []));
    await part('ModelStore aliasHolder + resolve (per estimate: which version is prod?)', () => {
      models.aliasHolder(modelName, 'prod');
      return models.resolve(`${modelName}@prod`);
    });
    await part('RuntimeStore.ingestState (per estimate: is ingest due?)', () => store.ingestState(cluster.id));
    await part('featuresOf', () => featuresOf(job, history));
    const predictor = new RuntimePredictor(createLogger({ level: 'warn', write() {} }));
    try {
      const served = await predictor.load(onnxFile);
      await predictor.predict(served, x, 1);
      await part(`RuntimePredictor.predict, 1 row (onnxruntime in this thread, as up to ${IN_THREAD_ROWS} rows)`, () => predictor.predict(served, x, 1));
      const many = new Float64Array((IN_THREAD_ROWS + 1) * FEATURE_COUNT);
      for (let i = 0; i <= IN_THREAD_ROWS; i++) many.set(x, i * FEATURE_COUNT);
      await part(`RuntimePredictor.predict, ${IN_THREAD_ROWS + 1} rows (onnxruntime in its worker thread, round trip)`, () => predictor.predict(served, many, IN_THREAD_ROWS + 1));
    } finally {
      await predictor.close();
    }
    await part('predictCalibrated, 1 row (the TypeScript walk, not served)', () => predictCalibrated(t.model, x, 1, t.calibration));
    return {
      historyJobs: t.jobs.length,
      setupMs,
      firstMs: first.wallMs,
      service: latency(svc),
      rpc: latency(rpc),
      source: `${e.source}${e.modelVersion !== null ? ` v${e.modelVersion}` : ''}`,
      parts,
      sessionCalls: [...new Set(stub.calls)],
    };
  } finally {
    for (const c of clients) await c.close();
    await app.close();
    db.close();
  }
}

// ------------------------------------------------------------ 3. over the WebSocket (real daemon, local cluster)

export interface WsFigures {
  connectMs: number;
  train: { ms: number; jobs: number; version: number; promoted: boolean } | { error: string };
  /** The first estimate: connects over SSH, ingests accounting when due, asks `id -un`. */
  firstMs: number;
  ws: Latency;
  source: string;
  daemonMaxRssMB: number | null;
}

async function wsClient(d: RunningDaemon): Promise<RpcConnection> {
  const ws = new WebSocket(`ws://127.0.0.1:${d.port}/`, { headers: { Authorization: `Bearer ${d.token}` }, handshakeTimeout: 5000 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  const c = new RpcConnection(webSocketTransport(ws), { requestTimeoutMs: 300_000 });
  await c.request(Initialize, { protocolVersion: PROTOCOL_VERSION, clientName: 'bench-ws' });
  return c;
}

function rssOf(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

export async function wsFigures(env: ClusterEnv, dir: string): Promise<WsFigures> {
  const d = await startDaemon({ stateDir: path.join(dir, 'ws-state') });
  let c: RpcConnection | undefined;
  try {
    const conn = await measure(() => wsClient(d));
    c = conn.value;
    await c.request(ClustersAdd, { name: 'local', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
    let train: WsFigures['train'];
    try {
      progress('runtime: runtime/train on the local cluster (reads its accounting)');
      const r = await measure(() => c!.request(RuntimeTrain, { cluster: 'local' }));
      train = { ms: r.wallMs, jobs: r.value.jobs, version: r.value.version, promoted: r.value.promoted };
    } catch (err) {
      train = { error: (err as Error).message };
    }
    const p = { cluster: 'local', script: script('bench'), sbatchArgs: [], expectedStart: false };
    const first = await measure(() => c!.request(RuntimeEstimateRequest, p));
    // Warm-up, untimed, as in the in-process figure.
    for (let i = 0; i < WARMUP; i++) await c.request(RuntimeEstimateRequest, p);
    const samples = await timed(ESTIMATES, () => c!.request(RuntimeEstimateRequest, p));
    const e = first.value;
    return {
      connectMs: conn.wallMs,
      train,
      firstMs: first.wallMs,
      ws: latency(samples),
      source: `${e.source}${e.modelVersion !== null ? ` v${e.modelVersion}` : ''}`,
      daemonMaxRssMB: rssOf(d.pid),
    };
  } finally {
    c?.close();
    await d.stop();
  }
}

// ------------------------------------------------------------ 4. batch throughput

export interface BatchFigures {
  rows: number;
  /** The TypeScript tree walk (what training, the gate and the replay use; not served): predictCalibrated = model.predict + applyCalibration, timed apart; one run. */
  ts: { ms: number; rowsPerSecond: number; runs: number; predictMs: number; calibrationMs: number };
  /**
   * The served path: RuntimePredictor (daemon/runtime/serve.ts), onnxruntime-node in its worker
   * thread, one session, one intra-op thread, chunks of CHUNK_ROWS; timed from the caller's side
   * (float32 copies and messages included). The best of `runs`, and the event loop's longest
   * stall meanwhile.
   */
  onnx:
    | { ms: number; rowsPerSecond: number; runs: number; loadMs: number; bytes: number; maxAbsDiff: number; chunkRows: number; eventLoopMaxMs: number; inThreadMs: number }
    | { error: string };
}

export async function batchFigures(t: Trained): Promise<BatchFigures> {
  const n = t.figures.trainJobs;
  // predictCalibrated(model, X, n, c) is exactly applyCalibration(model.predict(X, n), ...): its two halves, timed apart.
  const p = await measure(async () => t.model.predict(t.X, n));
  const c = await measure(async () => applyCalibration(p.value, n, t.model.quantiles, t.calibration));
  const ref = c.value;
  const tsMs = p.wallMs + c.wallMs;
  if (predictCalibrated(t.model, t.X.subarray(0, 100 * FEATURE_COUNT), 100, t.calibration).some((v, i) => v !== ref[i])) throw new Error('applyCalibration(predict) differs from predictCalibrated');
  let onnx: BatchFigures['onnx'];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-bench-onnx-'));
  const predictor = new RuntimePredictor(createLogger({ level: 'warn', write() {} }), { timeoutMs: 600_000 });
  try {
    const bytes = exportOnnx(t.model, t.calibration);
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, bytes);
    const load = await measure(() => predictor.load(file));
    const served = load.value;
    // Warm-up on one chunk (untimed), then whole batches.
    await predictor.predict(served, t.X, Math.min(n, CHUNK_ROWS));
    const lag = monitorEventLoopDelay({ resolution: 1 });
    let out: Float32Array = new Float32Array(0);
    lag.enable();
    const runs = await timed(BATCH_RUNS, async () => (out = await predictor.predict(served, t.X, n)));
    lag.disable();
    let maxAbsDiff = 0;
    for (let i = 0; i < out.length; i++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(out[i]! - ref[i]!));
    // For reference: onnxruntime in this thread, one run of the whole batch (what the worker spares the event loop).
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const input = new ort.Tensor('float32', Float32Array.from(t.X), [n, FEATURE_COUNT]);
    const inThread = await measure(() => session.run({ input }));
    await session.release();
    const ms = Math.min(...runs);
    onnx = { ms, rowsPerSecond: (n / ms) * 1000, runs: runs.length, loadMs: load.wallMs, bytes: bytes.length, maxAbsDiff, chunkRows: CHUNK_ROWS, eventLoopMaxMs: lag.max / 1e6, inThreadMs: inThread.wallMs };
  } catch (err) {
    onnx = { error: (err as Error).message };
  } finally {
    await predictor.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { rows: n, ts: { ms: tsMs, rowsPerSecond: (n / tsMs) * 1000, runs: 1, predictMs: p.wallMs, calibrationMs: c.wallMs }, onnx };
}
