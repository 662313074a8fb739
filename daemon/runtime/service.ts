// Runtime estimates before submission. A script is read the way sbatch reads
// it; its runtime is estimated from the cluster's own finished jobs (the
// user's last runs of the same job, else of any job) or, without history, from
// the time limit it asks for; every estimate says which source produced it.
// The learned model (quantile trees) plugs in as a further source.
import { type RuntimeEstimate, type RuntimeModelInfo, type RuntimeWarning, type ScriptProblem } from '../protocol';
import type { ClusterRecord, ClusterStore } from '../db/registry';
import type { ClusterConnections, RemoteSession } from '../connections';
import type { Logger } from '../log';
import { parseSbatchScript } from '../slurm/directives';
import { formatSlurmDuration, parseSlurmTimestamp } from '../slurm/time';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode } from '../protocol';
import type { GateResult, GateRule, Metrics } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { ModelStore } from '../db/models';
import { runGate } from '../models/gates';
import { JobHistory } from './history';
import type { RuntimeStore } from './store';
import type { JobRecord } from './traces';
import { FEATURE_COUNT, FEATURE_NAMES, featuresOf } from './features';
import { replayFeatures } from './replay';
import { modelFromJSON, trainInWorker, trainQuantileGbdt, type Dataset, type QuantileModel } from './gbdt';
import { calibrate, predictCalibrated, type Calibration } from './conformal';
import { intervalMetrics, pointMetrics } from './metrics';
import { exportOnnx } from './onnxExport';
import { runtimeAccuracy } from './accuracy';

/** How long ingested history is considered fresh before an estimate reads accounting again. */
const INGEST_EVERY_MS = 10 * 60_000;
/** A limit this many times the p90 slows scheduling for nothing. */
const OVER_REQUEST_FACTOR = 4;

export interface RuntimeDeps {
  clusters: ClusterStore;
  connections: ClusterConnections;
  store: RuntimeStore;
  models: ModelStore;
  /** Where trained runtime models are kept (model.json, model.onnx per version). */
  modelsDir: string;
  log: Logger;
  /** Train in a worker thread (the daemon) or in this thread (tests from sources). */
  worker?: boolean;
  onModelChanged?: (name: string) => void;
  /** Told of every estimate (its source, seconds; null for one of a batch) and every training (the metrics). */
  observer?: { estimate(source: string, seconds: number | null, count?: number): void; training(seconds: number): void };
}

/** Fewer finished jobs than this and a model would only learn noise. */
export const MIN_TRAINING_JOBS = 200;
const QUANTILES = [0.1, 0.5, 0.9];

/** The registered model that holds a cluster's runtime predictor. */
export function runtimeModelName(cluster: string): string {
  return `runtime-${cluster}`;
}

/**
 * A runtime model is promoted when, on the same recent jobs, it is not worse
 * than the one in use: error, p90 under-prediction, and interval coverage.
 */
export const RUNTIME_GATE_RULES: GateRule[] = [
  { metric: 'mae_minutes', direction: 'lower', tolerance: 0.05, mode: 'relative' },
  { metric: 'p90_under_rate', direction: 'lower', tolerance: 0.02, mode: 'absolute' },
  { metric: 'coverage_gap', direction: 'lower', tolerance: 0.03, mode: 'absolute' },
];

interface LoadedModel {
  version: number;
  model: QuantileModel;
  calibration: Calibration;
}

/** Quality of p10/p50/p90 predictions (seconds) against actual runtimes, as stored metrics. */
export function runtimeMetrics(pred: Float64Array, actual: Float64Array): Metrics {
  const n = actual.length;
  const p10 = new Float64Array(n);
  const p50 = new Float64Array(n);
  const p90 = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    p10[i] = pred[i * 3]!;
    p50[i] = pred[i * 3 + 1]!;
    p90[i] = pred[i * 3 + 2]!;
  }
  const point = pointMetrics(p50, actual);
  const interval = intervalMetrics(p10, p90, actual);
  return {
    n,
    mae_minutes: point.maeMinutes,
    median_abs_error_minutes: point.medianAbsErrorMinutes,
    p50_under_rate: point.underRate,
    accuracy: point.accuracy,
    p90_under_rate: interval.upperUnderRate,
    coverage: interval.coverage,
    coverage_gap: Math.abs(interval.coverage - 0.8),
  };
}

interface ClusterHistory {
  /** The cluster's ingest generation it was built from: rebuilt after the next ingest. */
  generation: number;
  history: JobHistory;
}

/** `sbatch --test-only` says "Job 123 to start at 2026-11-22T10:40:00 using ..." on stderr. */
export function parseTestOnly(stderr: string): string | null {
  const m = /to start at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)/.exec(stderr);
  return m ? parseSlurmTimestamp(m[1]!) : null;
}

/** Warnings about a time limit given an estimate: TIMEOUT risk below p90, over-request above 4 × p90. */
export function limitWarnings(limit: number | null, p90: number | null): RuntimeWarning[] {
  if (limit === null || p90 === null || p90 <= 0) return [];
  // Suggest whole minutes with a margin, as sbatch rounds limits up to minutes anyway.
  const suggested = formatSlurmDuration(Math.ceil((p90 * 1.2) / 60) * 60);
  if (limit < p90) {
    return [{ kind: 'timeout-risk', message: `the time limit ${formatSlurmDuration(limit)} is below the p90 estimate ${formatSlurmDuration(Math.round(p90))}: the job may end TIMEOUT`, suggestedLimit: suggested }];
  }
  if (limit > OVER_REQUEST_FACTOR * p90) {
    return [{ kind: 'over-request', message: `the time limit ${formatSlurmDuration(limit)} is more than ${OVER_REQUEST_FACTOR} × the p90 estimate ${formatSlurmDuration(Math.round(p90))}: a shorter limit starts sooner (backfill)`, suggestedLimit: suggested }];
  }
  return [];
}

export class RuntimeService {
  private readonly histories = new Map<string, ClusterHistory>();
  private readonly loaded = new Map<string, LoadedModel>();
  /** Bumped per cluster by every ingest: what the history caches compare against (counting rows per estimate costs milliseconds). */
  private readonly generations = new Map<string, number>();
  private readonly users = new Map<string, string>();
  private readonly ingesting = new Map<string, Promise<unknown>>();

  constructor(private readonly d: RuntimeDeps) {}

  /** Reads the cluster's accounting if the stored history is older than INGEST_EVERY_MS (or forced). */
  async ingest(cluster: ClusterRecord, session: RemoteSession, force = false): Promise<void> {
    const state = this.d.store.ingestState(cluster.id);
    if (!force && state && Date.now() - Date.parse(state.lastRunAt) < INGEST_EVERY_MS) return;
    let running = this.ingesting.get(cluster.id);
    if (!running) {
      running = this.d.store.ingest(cluster, session).finally(() => {
        this.ingesting.delete(cluster.id);
        this.generations.set(cluster.id, (this.generations.get(cluster.id) ?? 0) + 1);
      });
      this.ingesting.set(cluster.id, running);
    }
    await running;
  }

  private history(cluster: ClusterRecord): JobHistory {
    const generation = this.generations.get(cluster.id) ?? 0;
    const cached = this.histories.get(cluster.id);
    if (cached && cached.generation === generation) return cached.history;
    const history = new JobHistory();
    // Fed in end order: what was known by now.
    for (const j of this.d.store.jobs(cluster.id).sort((a, b) => a.end - b.end)) history.ended(j);
    this.histories.set(cluster.id, { generation, history });
    return history;
  }

  private async remoteUser(cluster: ClusterRecord, s: RemoteSession): Promise<string> {
    let user = this.users.get(cluster.id);
    if (!user) {
      const r = await s.exec(['id', '-un'], { timeoutMs: 30_000 });
      user = r.stdout.trim() || cluster.user || '';
      this.users.set(cluster.id, user);
    }
    return user;
  }

  async estimate(p: { cluster: string; script: string; sbatchArgs: string[]; expectedStart: boolean }): Promise<RuntimeEstimate> {
    const started = performance.now();
    const estimate = await this.estimateTimed(p);
    this.d.observer?.estimate(estimate.source, (performance.now() - started) / 1000);
    return estimate;
  }

  private async estimateTimed(p: { cluster: string; script: string; sbatchArgs: string[]; expectedStart: boolean }): Promise<RuntimeEstimate> {
    const cluster = this.d.clusters.get(p.cluster);
    const session = await this.d.connections.session(cluster);
    try {
      await this.ingest(cluster, session);
    } catch (err) {
      // No accounting (slurmdbd down or absent): estimate from what is stored.
      this.d.log.warn('runtime history could not be read', { cluster: cluster.name, error: (err as Error).message });
    }
    const user = await this.remoteUser(cluster, session);
    const estimate = this.estimateOne(cluster, user, p.script, p.sbatchArgs);
    if (p.expectedStart && !estimate.problems.some((x) => x.severity === 'error')) {
      // sbatch reads the script from stdin and answers without submitting.
      const r = await session.exec(['sbatch', '--test-only', ...p.sbatchArgs], { stdin: p.script, timeoutMs: 30_000 });
      estimate.expectedStart = r.code === 0 ? parseTestOnly(r.stderr) : null;
    }
    return estimate;
  }

  async estimateBatch(p: { cluster: string; scripts: { script: string; sbatchArgs: string[] }[] }): Promise<RuntimeEstimate[]> {
    const cluster = this.d.clusters.get(p.cluster);
    const session = await this.d.connections.session(cluster);
    await this.ingest(cluster, session).catch((err: unknown) => this.d.log.warn('runtime history could not be read', { error: (err as Error).message }));
    const user = await this.remoteUser(cluster, session);
    const estimates = p.scripts.map((s) => this.estimateOne(cluster, user, s.script, s.sbatchArgs));
    const bySource = new Map<string, number>();
    for (const e of estimates) bySource.set(e.source, (bySource.get(e.source) ?? 0) + 1);
    for (const [source, n] of bySource) this.d.observer?.estimate(source, null, n);
    return estimates;
  }

  private estimateOne(cluster: ClusterRecord, user: string, script: string, args: string[]): RuntimeEstimate {
    const parsed = parseSbatchScript(script, args);
    const problems: ScriptProblem[] = parsed.problems.map((x) => ({
      line: x.line,
      column: x.column,
      endColumn: x.endColumn,
      severity: x.severity,
      message: x.message,
      ...(x.option ? { option: x.option } : {}),
    }));
    const req = parsed.request;
    const limit = req.timeLimitSeconds;
    const history = this.history(cluster);
    const model = this.model(cluster);
    if (model) {
      const x = featuresOf(
        {
          id: '',
          user,
          jobName: req.jobName ?? '',
          submit: Math.floor(Date.now() / 1000),
          requestedTime: limit,
          cpus: req.totalCpus,
          nodes: req.nodes?.min ?? null,
          memMB: req.memMB,
          gpus: req.gpus,
          partition: req.partition,
          qos: req.qos,
          account: req.account,
        },
        history,
      );
      const q = predictCalibrated(model.model, x, 1, model.calibration);
      const [p10, p50, p90] = [Math.exp(q[0]!), Math.exp(q[1]!), Math.exp(q[2]!)];
      return { p10, p50, p90, source: 'model', modelVersion: model.version, expectedStart: null, timeLimitSeconds: limit, warnings: limitWarnings(limit, p90), problems };
    }
    // The same job's last runs say most; any of the user's last runs say something.
    const same = history.userApp({ user, jobName: req.jobName ?? '' });
    const mine = history.user(user);
    const stats = same.count > 0 ? same : mine.count > 0 ? mine : null;
    if (stats) {
      const last = stats.count === 1 ? [stats.last1Seconds] : [stats.last1Seconds, stats.last2Seconds];
      const p50 = last.reduce((a, b) => a + b, 0) / last.length;
      const p10 = Math.min(...last);
      const p90 = Math.max(...last);
      return { p10, p50, p90, source: 'history', modelVersion: null, expectedStart: null, timeLimitSeconds: limit, warnings: limitWarnings(limit, p90), problems };
    }
    if (limit !== null) {
      return { p10: null, p50: limit, p90: null, source: 'request', modelVersion: null, expectedStart: null, timeLimitSeconds: limit, warnings: [], problems };
    }
    return { p10: null, p50: null, p90: null, source: 'none', modelVersion: null, expectedStart: null, timeLimitSeconds: null, warnings: [], problems };
  }

  async info(name?: string): Promise<RuntimeModelInfo[]> {
    const clusters = name ? [this.d.clusters.get(name)] : this.d.clusters.list();
    return clusters.map((c) => {
      const state = this.d.store.ingestState(c.id);
      const prod = this.prodVersion(c);
      return { cluster: c.name, jobs: this.d.store.count(c.id), lastIngestAt: state?.lastRunAt ?? null, modelVersion: prod?.version ?? null, metrics: prod ? { ...prod.metrics, ...prod.evaluation } : null };
    });
  }

  /** Predicted against actual for the cluster's newest finished jobs, with the model in use (see accuracy.ts). */
  async accuracy(name: string, limit: number) {
    const cluster = this.d.clusters.get(name);
    try {
      await this.ingest(cluster, await this.d.connections.session(cluster));
    } catch (err) {
      // Unreachable or no accounting: what is stored still says something.
      this.d.log.warn('runtime history could not be read', { cluster: cluster.name, error: (err as Error).message });
    }
    const totalJobs = this.d.store.count(cluster.id);
    const v = this.prodVersion(cluster);
    const loaded = v ? this.model(cluster) : null;
    if (!v || !loaded) return { cluster: cluster.name, modelVersion: null, totalJobs, jobs: [], metrics: { model: null, requested: null, lastTwo: null } };
    const r = runtimeAccuracy(this.d.store.jobs(cluster.id), { model: loaded.model, calibration: loaded.calibration, trainedAt: Date.parse(v.createdAt) }, limit);
    return { cluster: cluster.name, modelVersion: loaded.version, totalJobs, ...r };
  }

  /** The runtime model version in use for the cluster; null before the first one was trained. */
  private prodVersion(cluster: ClusterRecord) {
    const name = runtimeModelName(cluster.name);
    try {
      if (this.d.models.aliasHolder(name, 'prod') === null) return null;
    } catch (err) {
      if (err instanceof RpcError && err.code === ErrorCode.NotFound) return null;
      throw err;
    }
    return this.d.models.resolve(`${name}@prod`);
  }

  /** The cluster's runtime model in use (prod), loaded once per version. */
  private model(cluster: ClusterRecord): LoadedModel | null {
    const v = this.prodVersion(cluster);
    if (!v) return null;
    const cached = this.loaded.get(cluster.id);
    if (cached && cached.version === v.version) return cached;
    try {
      const saved = JSON.parse(fs.readFileSync(path.join(v.artifactPath, 'model.json'), 'utf8')) as { model: unknown; calibration: Calibration };
      const loaded = { version: v.version, model: modelFromJSON(saved.model), calibration: saved.calibration };
      this.loaded.set(cluster.id, loaded);
      return loaded;
    } catch (err) {
      this.d.log.warn('runtime model could not be loaded', { cluster: cluster.name, version: v.version, error: (err as Error).message });
      return null;
    }
  }

  /**
   * Reads the cluster's accounting, trains quantile trees (p10/p50/p90 of log
   * runtime) on the older 70 % of its finished jobs, calibrates the interval on
   * the next 15 % and measures on the newest 15 %; registers the result as the
   * next version of `runtime-CLUSTER`, measures the version in use on the same
   * newest jobs, and promotes the new one when the gate says it is not worse.
   */
  async train(name: string): Promise<{ cluster: string; jobs: number; version: number; metrics: Metrics; promoted: boolean; gate: GateResult | null }> {
    const cluster = this.d.clusters.get(name);
    const started = performance.now();
    const session = await this.d.connections.session(cluster);
    try {
      await this.ingest(cluster, session, true);
    } catch (err) {
      throw new RpcError(ErrorCode.SlurmCommandFailed, `reading ${cluster.name}'s accounting: ${(err as Error).message}`);
    }
    const jobs = this.d.store.jobs(cluster.id);
    if (jobs.length < MIN_TRAINING_JOBS) {
      throw new RpcError(ErrorCode.Conflict, `${cluster.name} has ${jobs.length} finished jobs in its accounting; a runtime model needs at least ${MIN_TRAINING_JOBS}`);
    }
    const f = replayFeatures(jobs);
    const n = f.jobs.length;
    const y = Float64Array.from(f.jobs, (j: JobRecord) => Math.log(j.runtime));
    const slice = (from: number, to: number): Dataset => ({
      n: to - from,
      d: FEATURE_COUNT,
      X: f.X.slice(from * FEATURE_COUNT, to * FEATURE_COUNT),
      y: y.slice(from, to),
      featureNames: [...FEATURE_NAMES],
    });
    const a = Math.floor(n * 0.7);
    const b = Math.floor(n * 0.85);
    const train = slice(0, a);
    const opts = { quantiles: QUANTILES, seed: 1 };
    const model = this.d.worker ? await trainInWorker(train, opts) : trainQuantileGbdt(train, opts);
    const calibration = calibrate(model, slice(a, b), 0.8);
    const recent = slice(b, n);
    const actual = Float64Array.from(f.jobs.slice(b), (j) => j.runtime);
    const predictSeconds = (m: QuantileModel, c: Calibration) => predictCalibrated(m, recent.X, recent.n, c).map(Math.exp);
    const metrics = runtimeMetrics(predictSeconds(model, calibration), actual);
    const modelName = runtimeModelName(cluster.name);
    // The version in use, measured on the same newest jobs: the gate compares like with like.
    const inUse = this.model(cluster);
    // Files first, then the version that points at them: a registered version always has its model.
    const dir = path.join(this.d.modelsDir, modelName, randomUUID());
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const files = [
      { name: 'model.json', data: JSON.stringify({ model: model.toJSON(), calibration }) },
      { name: 'model.onnx', data: exportOnnx(model, calibration) },
    ].map((f) => {
      const file = path.join(dir, f.name);
      fs.writeFileSync(file, f.data, { mode: 0o600 });
      return { path: file, size: fs.statSync(file).size };
    });
    const version = this.d.models.registerVersion({
      model: modelName,
      clusterId: cluster.id,
      artifactPath: dir,
      artifacts: files,
      metrics: { ...metrics, training_jobs: a },
      trainingJobId: null,
      gitCommit: null,
      tags: { kind: 'runtime' },
    });
    const candidateId = this.d.models.versionId(modelName, version.version);
    this.d.models.setEvaluation(candidateId, metrics);
    if (this.d.models.rules(modelName).every((r) => !RUNTIME_GATE_RULES.some((x) => x.metric === r.metric))) {
      this.d.models.setRules(modelName, RUNTIME_GATE_RULES);
    }
    let gate: GateResult | null = null;
    let promoted = false;
    const who = 'slurm-ml runtime train';
    if (!inUse) {
      this.d.models.promote({ name: modelName, version: version.version, alias: 'prod', who, reason: 'the first runtime model' });
      promoted = true;
    } else {
      this.d.models.setEvaluation(this.d.models.versionId(modelName, inUse.version), runtimeMetrics(predictSeconds(inUse.model, inUse.calibration), actual));
      gate = runGate(this.d.models, modelName, version.version, inUse.version);
      if (gate.pass) {
        this.d.models.promote({ name: modelName, version: version.version, alias: 'prod', who, reason: 'retrained: not worse on recent jobs' }, () => gate!);
        promoted = true;
      }
    }
    this.d.observer?.training((performance.now() - started) / 1000);
    this.d.log.info('runtime model trained', { cluster: cluster.name, version: version.version, jobs: n, promoted, mae_minutes: metrics.mae_minutes, coverage: metrics.coverage });
    this.d.onModelChanged?.(modelName);
    return { cluster: cluster.name, jobs: n, version: version.version, metrics, promoted, gate };
  }
}
