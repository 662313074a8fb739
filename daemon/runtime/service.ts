// Runtime estimates before submission. A script is read the way sbatch reads
// it; its runtime is estimated from the cluster's own finished jobs (the
// user's last runs of the same job, else of any job) or, without history, from
// the time limit it asks for; every estimate says which source produced it.
// The learned model (quantile trees) plugs in as a further source.
import { type RuntimeEstimate, type RuntimeModelInfo, type RuntimeWarning, type ScriptNotice, type ScriptProblem, type SubmitEstimate } from '../protocol';
import type { ClusterRecord, ClusterStore } from '../db/registry';
import type { ClusterConnections, RemoteSession } from '../connections';
import type { Logger } from '../log';
import { parseSbatchScript } from '../slurm/directives';
import { dosLineBreaksMessage, findDosLineBreaks, toUnixLineBreaks } from '../slurm/lineEndings';
import { formatSlurmDuration, parseSlurmTimestamp } from '../slurm/time';
import { sbatchTestOnlyCommand } from '../slurm/commands';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode } from '../protocol';
import type { GateResult, GateRule, Metrics } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { ModelStore } from '../db/models';
import { runGate } from '../models/gates';
import { JobHistory, servingActivity, type Activity, type ActivityJob } from './history';
import type { RuntimeStore } from './store';
import type { JobRecord } from './traces';
import { FEATURE_COUNT, FEATURE_NAMES, writeFeatures, type JobRequest } from './features';
import { RuntimePredictor, type ServedModel } from './serve';
import { replayFeatures } from './replay';
import { modelFromJSON, trainInWorker, trainQuantileGbdt, type Dataset, type QuantileModel } from './gbdt';
import { INTERVAL_CALIBRATION, calibrate, predictCalibrated, type Calibration } from './conformal';
import { intervalMetrics, pointMetrics } from './metrics';
import { exportOnnx } from './onnxExport';
import { runtimeAccuracy } from './accuracy';

/** How long ingested history is considered fresh before an estimate reads accounting again. */
const INGEST_EVERY_MS = 10 * 60_000;
/** A limit this many times the p90 slows scheduling for nothing. */
const OVER_REQUEST_FACTOR = 4;
/**
 * Nor is a limit an over-request unless it asks at least this much more than the suggested one:
 * minutes more for a short job hardly delay its start (backfill), and a warning on every test
 * job's few minutes would teach users to ignore the one that matters.
 */
const OVER_REQUEST_MIN_EXCESS_SECONDS = 15 * 60;

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
  /** Retrain on schedule when this many finished jobs were added since the latest version; 0: only on demand. */
  retrainAfterJobs?: number;
  /** Finished jobs a runtime model needs at least (SLURM_ML_RUNTIME_MIN_JOBS); MIN_TRAINING_JOBS when not given. */
  minTrainingJobs?: number;
  /**
   * The cluster's jobs this daemon follows or followed lately (submit, start, end in
   * epoch seconds; undefined while unknown): the user's jobs in flight for the
   * activity features, which training reads from the replayed submits.
   */
  recentJobs?: (cluster: string) => { submit: number; start?: number; end?: number; requestedTime: number | null }[];
  /**
   * The cluster's jobs this daemon saw end (final states from scontrol): the
   * history on a cluster without accounting, where sacct fails.
   */
  ownHistory?: (cluster: ClusterRecord) => JobRecord[];
  /** Serves the models (onnxruntime in a worker thread); one of its own when not given. */
  predictor?: RuntimePredictor;
  /** Told of every estimate (its source, seconds; null for one of a batch) and every training (the metrics). */
  observer?: { estimate(source: string, seconds: number | null, count?: number): void; training(seconds: number): void };
}

/** How long the followed jobs read for the activity features are reused. */
const RECENT_JOBS_TTL_MS = 2000;

/** Finished jobs since the latest version that start a scheduled retrain (SLURM_ML_RUNTIME_RETRAIN_AFTER). */
export const DEFAULT_RETRAIN_AFTER_JOBS = 500;
/** After jobs ended, the scheduled check reads accounting at most this often. */
const RETRAIN_INGEST_MIN_MS = 30_000;

export type TrainResult = { cluster: string; jobs: number; version: number; metrics: Metrics; promoted: boolean; gate: GateResult | null };

/**
 * Fewer finished jobs than this and a model would only learn noise. A small
 * cluster (or a test that makes its own history) can lower it with
 * SLURM_ML_RUNTIME_MIN_JOBS; the split below still needs a few per part.
 */
export const MIN_TRAINING_JOBS = 200;
/** The least SLURM_ML_RUNTIME_MIN_JOBS may ask: 70/15/15 % of it still gives each part two or more jobs. */
export const MIN_TRAINING_JOBS_FLOOR = 20;
const QUANTILES = [0.1, 0.5, 0.9];
/**
 * The served model's trees: 100 per quantile at learning rate 0.1 rather than
 * the trainer's 200 at 0.05. On LANL-CM5 (train 70k jobs, calibrate 15k, test
 * the next 25k) MAE 26.21 vs 26.10 min, accuracy 0.566 vs 0.569, coverage
 * 0.769 vs 0.772, while onnxruntime (one thread) serves 139k vs 72k rows/s and
 * training takes 9 s instead of 29 s.
 */
export const RUNTIME_TRAIN_OPTIONS = { trees: 100, learningRate: 0.1 } as const;

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
  /** The trees walked in TypeScript: for measuring on recent jobs (the gate, accuracy), not for serving. */
  model: QuantileModel;
  calibration: Calibration;
  /** What estimates are served from: model.onnx in onnxruntime (serve.ts); opened on first use. */
  onnxFile: string;
  served?: Promise<ServedModel>;
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
  /** Each user's latest-submitted ingested job (what the activity features start from). */
  lastSubmitted: Map<string, JobRecord>;
}

/** `sbatch --test-only` says "Job 123 to start at 2026-11-22T10:40:00 using ..." on stderr. */
export function parseTestOnly(stderr: string): string | null {
  const m = /to start at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)/.exec(stderr);
  return m ? parseSlurmTimestamp(m[1]!) : null;
}

/** The limit to suggest for a p90: 20 % more, in whole minutes (sbatch rounds limits up to minutes anyway). */
export function suggestedLimitSeconds(p90: number): number {
  return Math.max(60, Math.ceil((p90 * 1.2) / 60) * 60);
}

/**
 * Warnings about a time limit given an estimate: TIMEOUT risk below p90, over-request above 4 × p90.
 * `suggestedSeconds`: the limit to suggest when the estimate moves with the limit (a model reads
 * it as a feature); by default suggestedLimitSeconds(p90).
 */
export function limitWarnings(limit: number | null, p90: number | null, suggestedSeconds?: number): RuntimeWarning[] {
  if (limit === null || p90 === null || p90 <= 0) return [];
  const own = suggestedLimitSeconds(p90);
  const suggested = formatSlurmDuration(suggestedSeconds ?? own);
  if (limit < p90) {
    return [{ kind: 'timeout-risk', message: `the time limit ${formatSlurmDuration(limit)} is below the p90 estimate ${formatSlurmDuration(Math.round(p90))}: the job may end TIMEOUT`, suggestedLimit: suggested }];
  }
  // A limit near the suggested one is not an over-request, however short p90 is: a job of
  // seconds cannot ask for less than a minute, and the quick fix must end the warning.
  if (limit > OVER_REQUEST_FACTOR * p90 && limit - own >= OVER_REQUEST_MIN_EXCESS_SECONDS) {
    return [{ kind: 'over-request', message: `the time limit ${formatSlurmDuration(limit)} is more than ${OVER_REQUEST_FACTOR} × the p90 estimate ${formatSlurmDuration(Math.round(p90))}: a shorter limit starts sooner (backfill)`, suggestedLimit: suggested }];
  }
  return [];
}

/**
 * For each row, a whole-minute limit L that draws no warning against p90(L), the model's p90
 * for the same script asking for L: the limit is one of the model's features, so the p90 at
 * the suggested limit differs from the p90 at the limit asked for. From the plain suggestion,
 * while the model still calls L an over-request, L steps down to the suggestion for p90(L)
 * (at most MAX_STEPS times; it stops at a minute). When the model finds L too short even
 * though L is 20 % above the p90 it came from (jobs that run past any limit they ask, as in
 * time-shared traces), more steps would only grow L: the plain suggestion stays.
 */
export async function modelConsistentLimits(
  firstP90: readonly number[],
  p90At: (rows: readonly number[], limits: readonly number[]) => Promise<number[]>,
): Promise<number[]> {
  const MAX_STEPS = 4;
  const limits = firstP90.map(suggestedLimitSeconds);
  const plain = limits.slice();
  let open = limits.map((_, i) => i);
  for (let step = 0; step < MAX_STEPS && open.length > 0; step++) {
    const p90 = await p90At(open, open.map((i) => limits[i]!));
    open = open.filter((i, j) => {
      const [w] = limitWarnings(limits[i]!, p90[j]!);
      if (w === undefined) return false;
      if (w.kind === 'timeout-risk') {
        limits[i] = plain[i]!;
        return false;
      }
      limits[i] = suggestedLimitSeconds(p90[j]!);
      return true;
    });
  }
  return limits;
}

/** The job a parsed script asks for, as features see it. */
function jobRequestOf(req: ReturnType<typeof parseSbatchScript>['request'], user: string, submit: number): JobRequest {
  return {
    id: '',
    user,
    jobName: req.jobName ?? '',
    submit,
    requestedTime: req.timeLimitSeconds,
    cpus: req.totalCpus,
    nodes: req.nodes?.min ?? null,
    memMB: req.memMB,
    gpus: req.gpus,
    partition: req.partition,
    qos: req.qos,
    account: req.account,
  };
}

function noticesOf(script: string): ScriptNotice[] {
  const crlf = findDosLineBreaks(script);
  return crlf ? [{ code: 'crlf-converted', line: crlf.line, column: crlf.column, endColumn: crlf.column + 1, message: dosLineBreaksMessage(crlf) }] : [];
}

function problemsOf(parsed: ReturnType<typeof parseSbatchScript>): ScriptProblem[] {
  return parsed.problems.map((x) => ({
    line: x.line,
    column: x.column,
    endColumn: x.endColumn,
    severity: x.severity,
    message: x.message,
    ...(x.option ? { option: x.option } : {}),
  }));
}

export class RuntimeService {
  private readonly histories = new Map<string, ClusterHistory>();
  private readonly recentJobsCache = new Map<string, { at: number; jobs: NonNullable<ReturnType<NonNullable<RuntimeDeps['recentJobs']>>> }>();
  private readonly loaded = new Map<string, LoadedModel>();
  /** Per cluster, the prod version that could not be loaded. */
  private readonly unreadable = new Map<string, number>();
  /** Bumped per cluster by every ingest: what the history caches compare against (counting rows per estimate costs milliseconds). */
  private readonly generations = new Map<string, number>();
  private readonly users = new Map<string, string>();
  private readonly ingesting = new Map<string, Promise<unknown>>();
  /** Trainings under way, by cluster id. */
  private readonly trainings = new Map<string, Promise<unknown>>();
  /** Clusters whose scheduled check is under way, and those with jobs ended since their last ingest. */
  private readonly checking = new Set<string>();
  private readonly changed = new Set<string>();
  /** After a failed scheduled check: not before this time (epoch ms). */
  private readonly retryAt = new Map<string, number>();
  private readonly retrainAfterJobs: number;
  private readonly minTrainingJobs: number;

  private readonly predictor: RuntimePredictor;

  constructor(private readonly d: RuntimeDeps) {
    this.predictor = d.predictor ?? new RuntimePredictor(d.log);
    this.retrainAfterJobs = d.retrainAfterJobs ?? DEFAULT_RETRAIN_AFTER_JOBS;
    this.minTrainingJobs = Math.max(MIN_TRAINING_JOBS_FLOOR, d.minTrainingJobs ?? MIN_TRAINING_JOBS);
  }

  /** Stops the onnxruntime worker. */
  async close(): Promise<void> {
    await this.predictor.close();
  }

  /** Reads the cluster's accounting if the stored history is older than INGEST_EVERY_MS (or forced). */
  async ingest(cluster: ClusterRecord, session: RemoteSession, force = false): Promise<void> {
    const state = this.d.store.ingestState(cluster.id);
    if (!force && state && Date.now() - Date.parse(state.lastRunAt) < INGEST_EVERY_MS) return;
    let running = this.ingesting.get(cluster.id);
    if (!running) {
      const own = this.d.ownHistory;
      running = this.d.store.ingest(cluster, session, own ? { ownHistory: () => own(cluster) } : {}).finally(() => {
        this.ingesting.delete(cluster.id);
        this.generations.set(cluster.id, (this.generations.get(cluster.id) ?? 0) + 1);
      });
      this.ingesting.set(cluster.id, running);
    }
    await running;
  }

  private history(cluster: ClusterRecord): JobHistory {
    return this.clusterHistory(cluster).history;
  }

  private clusterHistory(cluster: ClusterRecord): ClusterHistory {
    const generation = this.generations.get(cluster.id) ?? 0;
    const cached = this.histories.get(cluster.id);
    if (cached && cached.generation === generation) return cached;
    const history = new JobHistory();
    const lastSubmitted = new Map<string, JobRecord>();
    // Fed in end order: what was known by now.
    for (const j of this.d.store.jobs(cluster.id).sort((a, b) => a.end - b.end)) {
      history.ended(j);
      const last = lastSubmitted.get(j.user);
      if (last === undefined || j.submit >= last.submit) lastSubmitted.set(j.user, j);
    }
    const built = { generation, history, lastSubmitted };
    this.histories.set(cluster.id, built);
    return built;
  }

  /** The followed jobs, read at most every RECENT_JOBS_TTL_MS (a registry query costs more than an estimate). */
  private recentJobs(cluster: string): NonNullable<ReturnType<NonNullable<RuntimeDeps['recentJobs']>>> {
    const cached = this.recentJobsCache.get(cluster);
    const now = Date.now();
    if (cached && now - cached.at < RECENT_JOBS_TTL_MS) return cached.jobs;
    const jobs = this.d.recentJobs?.(cluster) ?? [];
    this.recentJobsCache.set(cluster, { at: now, jobs });
    return jobs;
  }

  /**
   * The user's activity now (last submit, jobs in flight, the previous job's state)
   * from their latest ingested job and the jobs this daemon follows: the features a
   * replay computes from submits, which the ingested (ended-only) history lacks.
   */
  private activityNow(cluster: ClusterRecord, user: string, now: number): Activity {
    const jobs: ActivityJob[] = [];
    const last = this.clusterHistory(cluster).lastSubmitted.get(user);
    if (last !== undefined) jobs.push(last);
    for (const j of this.recentJobs(cluster.name)) {
      // The same job ingested and followed: its ingested record is the one kept.
      if (last !== undefined && j.submit === last.submit) continue;
      jobs.push({ ...j, user });
    }
    return servingActivity(user, jobs, now);
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
    const [estimate] = await this.estimateMany(cluster, user, [p]);
    if (!estimate) throw new Error('no estimate');
    if (p.expectedStart && !estimate.problems.some((x) => x.severity === 'error')) {
      // sbatch reads the script from stdin and answers without submitting, given as submit would upload it
      // (an option sbatch could not take: no start).
      const argv = p.sbatchArgs.some((a) => /[\n\r\0]/.test(a)) ? null : sbatchTestOnlyCommand(p.sbatchArgs);
      const r = argv ? await session.exec(argv, { stdin: toUnixLineBreaks(p.script), timeoutMs: 30_000 }) : null;
      estimate.expectedStart = r?.code === 0 ? parseTestOnly(r.stderr) : null;
    }
    return estimate;
  }

  /**
   * The estimate stored with a job being submitted: from what is already
   * known (the stored history and the model in use), without reading the
   * cluster's accounting first, so a submit costs no sacct; null when nothing
   * can be said.
   */
  async estimateAtSubmit(clusterName: string, script: string, sbatchArgs: string[], session: RemoteSession): Promise<SubmitEstimate | null> {
    const cluster = this.d.clusters.get(clusterName);
    const user = await this.remoteUser(cluster, session);
    const [e] = await this.estimateMany(cluster, user, [{ script, sbatchArgs }]);
    if (!e || e.source === 'none' || e.p50 === null) return null;
    return { p10: e.p10, p50: e.p50, p90: e.p90, source: e.source, modelVersion: e.modelVersion };
  }

  async estimateBatch(p: { cluster: string; scripts: { script: string; sbatchArgs: string[] }[] }): Promise<RuntimeEstimate[]> {
    const cluster = this.d.clusters.get(p.cluster);
    const session = await this.d.connections.session(cluster);
    await this.ingest(cluster, session).catch((err: unknown) => this.d.log.warn('runtime history could not be read', { error: (err as Error).message }));
    const user = await this.remoteUser(cluster, session);
    const estimates = await this.estimateMany(cluster, user, p.scripts);
    const bySource = new Map<string, number>();
    for (const e of estimates) bySource.set(e.source, (bySource.get(e.source) ?? 0) + 1);
    for (const [source, n] of bySource) this.d.observer?.estimate(source, null, n);
    return estimates;
  }

  /**
   * Estimates for scripts of one user: with the cluster's model when there is
   * one (all rows in one onnxruntime batch), else from history or the request.
   */
  private async estimateMany(cluster: ClusterRecord, user: string, scripts: readonly { script: string; sbatchArgs: string[] }[]): Promise<RuntimeEstimate[]> {
    // Each script as submit uploads it (Unix line breaks), with a notice where that differs from the text given.
    const estimates = await this.estimateUploaded(
      cluster,
      user,
      scripts.map((x) => ({ script: toUnixLineBreaks(x.script), sbatchArgs: x.sbatchArgs })),
    );
    return estimates.map((e, i) => {
      const notices = noticesOf(scripts[i]!.script);
      return notices.length > 0 ? { ...e, notices } : e;
    });
  }

  private async estimateUploaded(cluster: ClusterRecord, user: string, scripts: readonly { script: string; sbatchArgs: string[] }[]): Promise<RuntimeEstimate[]> {
    const parsed = scripts.map((x) => parseSbatchScript(x.script, x.sbatchArgs));
    const history = this.history(cluster);
    const model = this.model(cluster);
    if (model && parsed.length > 0) {
      const submit = Math.floor(Date.now() / 1000);
      const X = new Float64Array(parsed.length * FEATURE_COUNT);
      const activity = this.activityNow(cluster, user, submit);
      parsed.forEach((x, i) => writeFeatures(jobRequestOf(x.request, user, submit), history, X, i * FEATURE_COUNT, { activity }));
      try {
        model.served ??= this.predictor.load(model.onnxFile);
        const served = await model.served;
        if (served.features !== FEATURE_COUNT) throw new Error(`${model.onnxFile} takes ${served.features} features; this daemon computes ${FEATURE_COUNT}`);
        const q = await this.predictor.predict(served, X, parsed.length);
        const k = served.quantiles;
        // Ascending quantiles of log runtime: p10, p50, p90.
        const p90Of = (out: Float32Array, i: number) => Math.exp(out[i * k + k - 1]!);
        const warnings = parsed.map((x, i) => limitWarnings(x.request.timeLimitSeconds, p90Of(q, i)));
        const warned = warnings.flatMap((w, i) => (w.length > 0 ? [i] : []));
        if (warned.length > 0) {
          // Their suggestions, as the model sees the script asking for them.
          const limits = await modelConsistentLimits(
            warned.map((i) => p90Of(q, i)),
            async (rows, at) => {
              const Xs = new Float64Array(rows.length * FEATURE_COUNT);
              rows.forEach((r, j) => writeFeatures({ ...jobRequestOf(parsed[warned[r]!]!.request, user, submit), requestedTime: at[j]! }, history, Xs, j * FEATURE_COUNT, { activity }));
              const out = await this.predictor.predict(served, Xs, rows.length);
              return rows.map((_, j) => p90Of(out, j));
            },
          );
          warned.forEach((i, j) => (warnings[i] = limitWarnings(parsed[i]!.request.timeLimitSeconds, p90Of(q, i), limits[j])));
        }
        return parsed.map((x, i) => {
          const [p10, p50, p90] = [Math.exp(q[i * k]!), Math.exp(q[i * k + 1]!), p90Of(q, i)];
          return { p10, p50, p90, source: 'model', modelVersion: model.version, expectedStart: null, timeLimitSeconds: x.request.timeLimitSeconds, warnings: warnings[i]!, problems: problemsOf(x) };
        });
      } catch (err) {
        // The model cannot be served (file gone, onnxruntime missing or failing): the history still can.
        model.served = undefined;
        this.d.log.warn('runtime model could not be run; estimating from history', { cluster: cluster.name, version: model.version, error: (err as Error).message });
      }
    }
    return parsed.map((x) => this.fromHistory(history, user, x));
  }

  private fromHistory(history: JobHistory, user: string, parsed: ReturnType<typeof parseSbatchScript>): RuntimeEstimate {
    const req = parsed.request;
    const limit = req.timeLimitSeconds;
    const problems = problemsOf(parsed);
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
    // Said once per version, not on every estimate.
    if (this.unreadable.get(cluster.id) === v.version) return null;
    try {
      const saved = JSON.parse(fs.readFileSync(path.join(v.artifactPath, 'model.json'), 'utf8')) as { model: unknown; calibration: Calibration };
      const loaded: LoadedModel = { version: v.version, model: modelFromJSON(saved.model), calibration: saved.calibration, onnxFile: path.join(v.artifactPath, 'model.onnx') };
      // A version trained by a daemon that computed other features cannot be fed this one's.
      if (loaded.model.featureNames.join() !== FEATURE_NAMES.join()) throw new Error('it was trained on other features than this daemon computes; retrain (slurm-ml runtime train)');
      this.loaded.set(cluster.id, loaded);
      return loaded;
    } catch (err) {
      this.d.log.warn('runtime model could not be loaded; estimating from history', { cluster: cluster.name, version: v.version, error: (err as Error).message });
      this.unreadable.set(cluster.id, v.version);
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
  async train(name: string): Promise<TrainResult> {
    return this.trainSerialized(this.d.clusters.get(name), 'on demand');
  }

  /** One training per cluster at a time: a second waits for the first, then trains on what is there then. */
  private trainSerialized(cluster: ClusterRecord, trigger: 'on demand' | 'scheduled'): Promise<TrainResult> {
    const before = this.trainings.get(cluster.id) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.trainCluster(cluster, trigger));
    const tracked = run.finally(() => {
      if (this.trainings.get(cluster.id) === tracked) this.trainings.delete(cluster.id);
    });
    this.trainings.set(cluster.id, tracked);
    return run;
  }

  /** A cluster's accounting changed (the poller saw one of its jobs end): the next scheduled check reads it. */
  jobEnded(clusterName: string): void {
    const c = this.d.clusters.find(clusterName);
    if (c) this.changed.add(c.id);
  }

  /**
   * The scheduled retrain, called by the poller after each cycle; returns at
   * once. For each cluster that has a runtime model in use (the first one is
   * trained on demand): reads its accounting when one of its jobs ended since
   * (at most every RETRAIN_INGEST_MIN_MS) or when the stored history is stale,
   * and retrains when at least `retrainAfterJobs` finished jobs were added
   * since the latest version was trained. The new version is gated like one
   * trained on demand.
   */
  retrainIfDue(): void {
    if (this.retrainAfterJobs <= 0) return;
    for (const cluster of this.d.clusters.list()) {
      if (this.checking.has(cluster.id) || this.trainings.has(cluster.id)) continue;
      if ((this.retryAt.get(cluster.id) ?? 0) > Date.now()) continue;
      let hasModel: boolean;
      try {
        hasModel = this.prodVersion(cluster) !== null;
      } catch {
        continue;
      }
      if (!hasModel) continue;
      this.checking.add(cluster.id);
      this.checkRetrain(cluster)
        .catch((err: unknown) => {
          // Not again at the next poll: a failing sacct or training would otherwise repeat every cycle.
          this.retryAt.set(cluster.id, Date.now() + INGEST_EVERY_MS);
          this.d.log.warn('scheduled runtime retrain failed', { cluster: cluster.name, error: (err as Error).message, retryInMs: INGEST_EVERY_MS });
        })
        .finally(() => this.checking.delete(cluster.id));
    }
  }

  /** One cluster's scheduled check (retrainIfDue); the version trained, or null when none was due. */
  async checkRetrain(cluster: ClusterRecord): Promise<TrainResult | null> {
    const state = this.d.store.ingestState(cluster.id);
    const age = state ? Date.now() - Date.parse(state.lastRunAt) : Infinity;
    const ended = this.changed.has(cluster.id);
    if (ended ? age >= RETRAIN_INGEST_MIN_MS : age >= INGEST_EVERY_MS) {
      this.changed.delete(cluster.id);
      await this.ingest(cluster, await this.d.connections.session(cluster, { background: true }), true);
    }
    const due = this.retrainDue(cluster);
    if (due === null || due.newJobs < this.retrainAfterJobs) return null;
    this.d.log.info('runtime model: retraining on schedule', { cluster: cluster.name, newJobs: due.newJobs, since: due.since });
    return this.trainSerialized(cluster, 'scheduled');
  }

  /** Finished jobs stored for the cluster since its latest runtime version was trained; null without a version. */
  retrainDue(cluster: ClusterRecord): { newJobs: number; since: number } | null {
    let latest;
    try {
      latest = this.d.models.resolve(runtimeModelName(cluster.name));
    } catch (err) {
      if (err instanceof RpcError && err.code === ErrorCode.NotFound) return null;
      throw err;
    }
    // Versions from before jobs_seen was recorded: their training share was 70 %.
    const seen = latest.metrics.jobs_seen ?? Math.round((latest.metrics.training_jobs ?? 0) / 0.7);
    return { newJobs: this.d.store.count(cluster.id) - seen, since: latest.version };
  }

  private async trainCluster(cluster: ClusterRecord, trigger: 'on demand' | 'scheduled'): Promise<TrainResult> {
    const started = performance.now();
    const session = await this.d.connections.session(cluster, trigger === 'scheduled' ? { background: true } : {});
    try {
      await this.ingest(cluster, session, true);
    } catch (err) {
      throw new RpcError(ErrorCode.SlurmCommandFailed, `reading ${cluster.name}'s accounting: ${(err as Error).message}`);
    }
    const jobs = this.d.store.jobs(cluster.id);
    if (jobs.length < this.minTrainingJobs) {
      throw new RpcError(ErrorCode.Conflict, `${cluster.name} has ${jobs.length} finished jobs in its accounting; a runtime model needs at least ${this.minTrainingJobs}`);
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
    const opts = { quantiles: QUANTILES, seed: 1, ...RUNTIME_TRAIN_OPTIONS };
    this.d.log.info('runtime model: training', { cluster: cluster.name, trigger, jobs: n, trainingJobs: a });
    const model = this.d.worker ? await trainInWorker(train, opts) : trainQuantileGbdt(train, opts);
    const calibration = calibrate(model, slice(a, b), INTERVAL_CALIBRATION.target, INTERVAL_CALIBRATION.upperMisses);
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
      metrics: { ...metrics, training_jobs: a, jobs_seen: n },
      trainingJobId: null,
      gitCommit: null,
      tags: { kind: 'runtime', trigger },
    });
    const candidateId = this.d.models.versionId(modelName, version.version);
    this.d.models.setEvaluation(candidateId, metrics);
    if (this.d.models.rules(modelName).every((r) => !RUNTIME_GATE_RULES.some((x) => x.metric === r.metric))) {
      this.d.models.setRules(modelName, RUNTIME_GATE_RULES);
    }
    let gate: GateResult | null = null;
    let promoted = false;
    const who = trigger === 'scheduled' ? 'slurm-ml (scheduled retrain)' : 'slurm-ml runtime train';
    if (!inUse) {
      const reason = this.prodVersion(cluster) === null ? 'the first runtime model' : 'the version in use cannot be read by this daemon (other features)';
      this.d.models.promote({ name: modelName, version: version.version, alias: 'prod', who, reason });
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
    this.d.log.info('runtime model trained', { cluster: cluster.name, trigger, version: version.version, jobs: n, promoted, mae_minutes: metrics.mae_minutes, coverage: metrics.coverage });
    this.d.onModelChanged?.(modelName);
    return { cluster: cluster.name, jobs: n, version: version.version, metrics, promoted, gate };
  }
}
