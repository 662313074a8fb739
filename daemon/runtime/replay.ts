// Evaluation by replay (the notes' protocol): jobs in submit order, each one
// predicted only from jobs that ENDED before it was submitted. An event queue
// of end times feeds the history; features depend on the history only (never
// on earlier predictions), so they are computed in one pass and the models
// (one per segment of the trace, each trained on what had ended by the
// segment's first submit) can be trained in parallel.
//
// Each model: quantile GBDT (p10, p50, p90) on log runtime, trained on a
// recent window of ended jobs minus its most recent slice, which calibrates
// the p10–p90 interval (split conformal). Before the first model, the
// prediction is the user's last-2 (fallback: requested time).
import { FEATURE_COUNT, FEATURE_NAMES, writeFeatures } from './features';
import { JobHistory } from './history';
import { intervalMetrics, pointMetrics, runtimeGoals } from './metrics';
import type { Goal, IntervalMetrics, PointMetrics } from './metrics';
import type { JobRecord } from './traces';

import type { Dataset, QuantileModel, TrainOptions } from './gbdt';
import type { Calibration } from './conformal';

export type { Dataset, QuantileModel, TrainOptions, Calibration };
export type Train = (data: Dataset, opts: TrainOptions) => Promise<QuantileModel> | QuantileModel;
export type Calibrate = (model: QuantileModel, cal: Dataset, target: number, upperMisses?: number) => Calibration;

export interface ReplayOptions {
  train: Train;
  /** Split-conformal calibration of [p10, p90]; without it the raw quantiles are used. */
  calibrate?: Calibrate;
  trainOptions?: Omit<TrainOptions, 'quantiles'>;
  /** Seconds east of UTC for hour-of-day features. */
  utcOffsetSeconds?: number;
  /** A new model every this many submitted jobs (default 1,000). */
  retrainEvery?: number;
  /** Train on at most this many of the most recently ended jobs (default 40,000). */
  window?: number;
  /** Jobs that must have ended before the first model (default 500). */
  minTrain?: number;
  /** Share of the window (its most recently ended jobs) kept for calibration (default 0.2). */
  calibrationFraction?: number;
  /** Coverage the calibration aims at for [p10, p90] (default 0.8); a little more leaves a margin for drift. */
  calibrationTarget?: number;
  /** Share of jobs the calibration lets run past p90 (default: half of 1 - calibrationTarget). */
  calibrationUpperMisses?: number;
  /**
   * The point prediction: 'p50' (default; the median), or 'accuracy': the
   * point with the best expected min/max ratio under the distribution the
   * deciles describe (trains 9 quantiles; see accuracyPoint).
   */
  point?: 'p50' | 'accuracy';
  /** With point 'accuracy': how far from the median toward the best-accuracy point (default ACCURACY_SHRINK). */
  accuracyShrink?: number;
  /** Models trained at once (default 2; use with a worker trainer). */
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SegmentInfo {
  /** Index (in submit order) of the first job the model predicts, and one past its last. */
  from: number;
  to: number;
  trainRows: number;
  calibrationRows: number;
  calibration: Calibration | null;
  trainSeconds: number;
}

export interface ReplayResult {
  /** Jobs in submit order, as replayed. */
  jobs: JobRecord[];
  actual: Float64Array;
  requested: Float64Array;
  lastTwo: Float64Array;
  /** The notes' leaky last-2 (last two submitted jobs), for reference. */
  lastTwoSubmitted: Float64Array;
  p10: Float64Array;
  p50: Float64Array;
  p90: Float64Array;
  /** The point prediction scored as the model's (p50 unless options.point says otherwise). */
  point: Float64Array;
  /** 1 where a model predicted, 0 where the warm-up fallback (last-2) did. */
  modelled: Uint8Array;
  segments: SegmentInfo[];
  /** Jobs between retrainings, as used. */
  retrainEvery: number;
  metrics: ReplayMetrics;
}

export interface ReplayMetrics {
  jobs: number;
  modelledJobs: number;
  model: PointMetrics;
  requested: PointMetrics;
  lastTwo: PointMetrics;
  /** On the modelled jobs (the warm-up has no interval). */
  interval: IntervalMetrics;
  goals: Goal[];
}

export const QUANTILES = [0.1, 0.5, 0.9];
/** Jobs that must have ended before the first model. */
export const DEFAULT_MIN_TRAIN = 500;
/**
 * Submitted jobs between retrainings. In use the daemon retrains after 500
 * newly finished jobs (SLURM_ML_RUNTIME_RETRAIN_AFTER); 1,000 keeps a full
 * LANL-CM5 replay (110 models of 9 quantiles) near 13 minutes on 2 cores and
 * the model as fresh: every 5 % of the trace instead (5,500 jobs on LANL-CM5)
 * cost 0.003 of accuracy there.
 */
export const DEFAULT_RETRAIN_EVERY = 1000;
const DECILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const DEFAULT_RUNTIME = 3600;

/** Jobs in submit order (stable), with features, baselines and what had ended by each submit. */
export interface ReplayFeatures {
  jobs: JobRecord[];
  X: Float64Array;
  /** Indices (into jobs) in the order they ended. */
  endOrder: Int32Array;
  /** For job i: how many jobs (a prefix of endOrder) had ended by its submit. */
  endedBefore: Int32Array;
  requested: Float64Array;
  /** Mean of the user's last two ENDED runtimes, capped at the requested time; requested time without history. */
  lastTwo: Float64Array;
  /** The notes' baseline: the same over the user's last two SUBMITTED jobs, ended or not (leaks; for reference). */
  lastTwoSubmitted: Float64Array;
}

export function replayFeatures(input: readonly JobRecord[], utcOffsetSeconds = 0): ReplayFeatures {
  const jobs = input
    .map((j, i) => ({ j, i }))
    .sort((a, b) => a.j.submit - b.j.submit || a.i - b.i)
    .map((x) => x.j);
  const n = jobs.length;
  const X = new Float64Array(n * FEATURE_COUNT);
  const endedBefore = new Int32Array(n);
  const endOrder = new Int32Array(n);
  const requested = new Float64Array(n);
  const lastTwo = new Float64Array(n);
  const lastTwoSubmitted = new Float64Array(n);
  const lastSubmitted = new Map<string, number[]>();
  const history = new JobHistory();
  const queue = new EndQueue(jobs);
  let ended = 0;
  let sumLogEnded = 0;
  for (let i = 0; i < n; i++) {
    const job = jobs[i] as JobRecord;
    // Strictly before: a job that ends the very second another is submitted is not yet known.
    while (queue.size > 0 && (jobs[queue.peek()] as JobRecord).end < job.submit) {
      const k = queue.pop();
      history.ended(jobs[k] as JobRecord);
      sumLogEnded += Math.log((jobs[k] as JobRecord).runtime);
      endOrder[ended++] = k;
    }
    endedBefore[i] = ended;
    writeFeatures(job, history, X, i * FEATURE_COUNT, { utcOffsetSeconds });
    const fallback = ended > 0 ? Math.exp(sumLogEnded / ended) : DEFAULT_RUNTIME;
    requested[i] = job.requestedTime ?? history.lastTwo(job.user) ?? fallback;
    // Tsafrir et al. cap the prediction at the requested time (the job is killed there).
    const l2 = history.lastTwo(job.user);
    lastTwo[i] = l2 !== null ? Math.min(l2, job.requestedTime ?? Infinity) : (job.requestedTime ?? fallback);
    // The notes' variant: the user's last two SUBMITTED jobs, ended or not (it reads runtimes not yet known).
    const sub = lastSubmitted.get(job.user);
    lastTwoSubmitted[i] = sub !== undefined ? Math.min(sub.reduce((a, b) => a + b, 0) / sub.length, job.requestedTime ?? Infinity) : (job.requestedTime ?? fallback);
    if (sub === undefined) lastSubmitted.set(job.user, [job.runtime]);
    else {
      sub.push(job.runtime);
      if (sub.length > 2) sub.shift();
    }
    history.submitted(job);
    queue.push(i);
  }
  while (queue.size > 0) endOrder[ended++] = queue.pop();
  return { jobs, X, endOrder, endedBefore, requested, lastTwo, lastTwoSubmitted };
}

export async function replay(input: readonly JobRecord[], options: ReplayOptions): Promise<ReplayResult> {
  const f = replayFeatures(input, options.utcOffsetSeconds ?? 0);
  const { jobs, X, endOrder, endedBefore } = f;
  const n = jobs.length;
  const d = FEATURE_COUNT;
  const actual = Float64Array.from(jobs, (j) => j.runtime);
  const p10 = new Float64Array(n);
  const p50 = Float64Array.from(f.lastTwo);
  const point = Float64Array.from(f.lastTwo);
  const accuracyMode = options.point === 'accuracy';
  const trained = accuracyMode ? DECILES : QUANTILES;
  const p90 = new Float64Array(n);
  const modelled = new Uint8Array(n);

  const every = Math.max(1, options.retrainEvery ?? DEFAULT_RETRAIN_EVERY);
  const window = options.window ?? 40_000;
  const minTrain = options.minTrain ?? DEFAULT_MIN_TRAIN;
  const calFraction = options.calibrationFraction ?? 0.2;
  const useCalibration = options.calibrate !== undefined && calFraction > 0;

  // Segment starts: every `every` jobs, once enough jobs have ended.
  const starts: number[] = [];
  for (let s = 0; s < n; s += every) {
    let at = s;
    while (at < n && at < s + every && (endedBefore[at] as number) < minTrain) at++;
    if (at < n && at < s + every) starts.push(at);
  }
  const segments: SegmentInfo[] = [];
  const tasks = starts.map((from, k) => async () => {
    const to = k + 1 < starts.length ? (starts[k + 1] as number) : n;
    const available = endedBefore[from] as number;
    const lo = Math.max(0, available - window);
    const total = available - lo;
    const calRows = useCalibration ? Math.max(0, Math.min(total - minTrain, Math.floor(total * calFraction))) : 0;
    const trainIdx = endOrder.subarray(lo, available - calRows);
    const calIdx = endOrder.subarray(available - calRows, available);
    const t0 = performance.now();
    const model = await options.train(dataset(trainIdx), { quantiles: trained, ...options.trainOptions });
    const trainSeconds = (performance.now() - t0) / 1000;
    const calibration = calRows > 0 && options.calibrate ? options.calibrate(model, dataset(calIdx), options.calibrationTarget ?? 0.8, options.calibrationUpperMisses) : null;
    const rows = to - from;
    const q = model.predict(X.slice(from * d, to * d), rows);
    const nq = model.quantiles.length;
    const qi = QUANTILES.map((x) => model.quantiles.indexOf(x));
    const qa = trained.map((x) => model.quantiles.indexOf(x));
    if (qi.some((i) => i < 0) || qa.some((i) => i < 0)) throw new Error(`model lacks quantiles ${trained.join(', ')}`);
    for (let r = 0; r < rows; r++) {
      const i = from + r;
      let lo10 = q[r * nq + (qi[0] as number)] as number;
      const mid = q[r * nq + (qi[1] as number)] as number;
      let hi90 = q[r * nq + (qi[2] as number)] as number;
      if (calibration) {
        // conformal.ts: both offsets are added (lower is usually negative).
        lo10 += calibration.lower;
        hi90 += calibration.upper;
      }
      // Quantiles trained apart may cross; the interval keeps the median inside.
      p10[i] = Math.exp(Math.min(lo10, mid));
      p50[i] = Math.exp(mid);
      point[i] = accuracyMode ? Math.exp(accuracyPoint(q, r * nq, qa, options.accuracyShrink)) : p50[i];
      p90[i] = Math.exp(Math.max(hi90, mid));
      modelled[i] = 1;
    }
    segments.push({ from, to, trainRows: trainIdx.length, calibrationRows: calIdx.length, calibration, trainSeconds });
    options.onProgress?.(segments.length, starts.length);
  });
  await runLimited(tasks, options.concurrency ?? 2);
  segments.sort((a, b) => a.from - b.from);

  function dataset(idx: Int32Array): Dataset {
    const m = idx.length;
    const Xs = new Float64Array(m * d);
    const y = new Float64Array(m);
    for (let r = 0; r < m; r++) {
      const i = idx[r] as number;
      Xs.set(X.subarray(i * d, (i + 1) * d), r * d);
      y[r] = Math.log((jobs[i] as JobRecord).runtime);
    }
    return { n: m, d, X: Xs, y, featureNames: [...FEATURE_NAMES] };
  }

  const metrics = replayMetrics(actual, p10, point, p90, f.requested, f.lastTwo, modelled);
  return { jobs, actual, requested: f.requested, lastTwo: f.lastTwo, lastTwoSubmitted: f.lastTwoSubmitted, p10, p50, p90, point, modelled, segments, retrainEvery: every, metrics };
}

/** Levels 0.02, 0.04, …, 0.98 at which accuracyPoint reads the predicted distribution. */
const FINE_LEVELS = Array.from({ length: 49 }, (_, k) => 0.02 * (k + 1));
/** How far accuracyPoint moves from the median toward the best-accuracy point (see replay options). */
export const ACCURACY_SHRINK = 0.95;

/**
 * The point with the best expected accuracy (min/max ratio) under a job's
 * predicted distribution of log runtime, given by its deciles q[offset +
 * indices[k]] (k = 0…8 for 0.1…0.9, any order; crossing ones are sorted).
 * The deciles define a piecewise-linear quantile function, extended below
 * p10 and above p90 along the nearest step; its values at FINE_LEVELS stand
 * for the distribution and are the candidates: the one maximizing
 * mean exp(-|c - v|) wins. The result is moved `shrink` of the way from the
 * median to it: the best-accuracy point of a skewed distribution is far from
 * its median, which costs absolute error (the median minimizes it).
 */
export function accuracyPoint(q: Float64Array, offset: number, indices: readonly number[], shrink = ACCURACY_SHRINK): number {
  if (indices.length !== 9) throw new Error('accuracyPoint needs the 9 deciles');
  const s = indices.map((j) => q[offset + j] as number).sort((a, b) => a - b);
  const at = (k: number) => s[k] as number;
  const v = FINE_LEVELS.map((t) => {
    if (t <= 0.1) return at(0) - ((0.1 - t) / 0.1) * (at(1) - at(0));
    if (t >= 0.9) return at(8) + ((t - 0.9) / 0.1) * (at(8) - at(7));
    const k = Math.floor(t * 10 + 1e-9) - 1;
    return at(k) + ((t - 0.1 * (k + 1)) / 0.1) * (at(k + 1) - at(k));
  });
  let best = at(4);
  let bestScore = -Infinity;
  for (const c of v) {
    let score = 0;
    for (const x of v) score += Math.exp(-Math.abs(c - x));
    if (score > bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return at(4) + shrink * (best - at(4));
}

export function replayMetrics(
  actual: Float64Array,
  p10: Float64Array,
  point: Float64Array,
  p90: Float64Array,
  requested: Float64Array,
  lastTwo: Float64Array,
  modelled: Uint8Array,
): ReplayMetrics {
  const idx: number[] = [];
  modelled.forEach((m, i) => {
    if (m) idx.push(i);
  });
  const pick = (a: Float64Array) => Float64Array.from(idx, (i) => a[i] as number);
  const model = pointMetrics(point, actual);
  const lastTwoM = pointMetrics(lastTwo, actual);
  const interval = intervalMetrics(pick(p10), pick(p90), pick(actual));
  return {
    jobs: actual.length,
    modelledJobs: idx.length,
    model,
    requested: pointMetrics(requested, actual),
    lastTwo: lastTwoM,
    interval,
    goals: runtimeGoals(model, interval, lastTwoM),
  };
}

async function runLimited(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const t = tasks[next++] as () => Promise<void>;
      await t();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, tasks.length)) }, worker));
}

/** Binary min-heap of job indices by end time (ties: submit order). */
class EndQueue {
  private readonly heap: number[] = [];
  constructor(private readonly jobs: readonly JobRecord[]) {}
  get size(): number {
    return this.heap.length;
  }
  peek(): number {
    return this.heap[0] as number;
  }
  private less(a: number, b: number): boolean {
    const ea = (this.jobs[a] as JobRecord).end;
    const eb = (this.jobs[b] as JobRecord).end;
    return ea < eb || (ea === eb && a < b);
  }
  push(i: number): void {
    const h = this.heap;
    h.push(i);
    let c = h.length - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (!this.less(h[c] as number, h[p] as number)) break;
      [h[c], h[p]] = [h[p] as number, h[c] as number];
      c = p;
    }
  }
  pop(): number {
    const h = this.heap;
    const top = h[0] as number;
    const last = h.pop() as number;
    if (h.length > 0) {
      h[0] = last;
      let p = 0;
      for (;;) {
        const l = 2 * p + 1;
        const r = l + 1;
        let m = p;
        if (l < h.length && this.less(h[l] as number, h[m] as number)) m = l;
        if (r < h.length && this.less(h[r] as number, h[m] as number)) m = r;
        if (m === p) break;
        [h[m], h[p]] = [h[p] as number, h[m] as number];
        p = m;
      }
    }
    return top;
  }
}
