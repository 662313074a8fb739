// Predicted against actual runtime for a cluster's finished jobs, for the
// dashboard: each job's features are rebuilt as they were at its submission
// (replayFeatures), so the model in use predicts what it would have said then.
// Jobs the model trained or calibrated on are marked and left out of the
// metrics; the baselines (requested time, the user's last two runs) are
// measured on the same jobs.
import type { Metrics } from '../protocol';
import type { Calibration } from './conformal';
import { predictCalibrated } from './conformal';
import { FEATURE_COUNT } from './features';
import type { QuantileModel } from './gbdt';
import { pointMetrics } from './metrics';
import { replayFeatures } from './replay';
import { runtimeMetrics } from './service';
import type { JobRecord } from './traces';

/** Share of the jobs known at training time that training and calibration used (the rest measured it). */
const SEEN_FRACTION = 0.85;

export interface AccuracyModel {
  model: QuantileModel;
  calibration: Calibration;
  /** When the version was trained (ms): jobs ended before then could have been in its training data. */
  trainedAt: number;
}

export interface AccuracyJob {
  slurmJobId: string;
  name: string;
  submitTime: string;
  endTime: string;
  actualSeconds: number;
  requestedSeconds: number | null;
  p10: number;
  p50: number;
  p90: number;
  lastTwoSeconds: number;
  seenInTraining: boolean;
}

export interface AccuracyResult {
  jobs: AccuracyJob[];
  metrics: { model: Metrics | null; requested: Metrics | null; lastTwo: Metrics | null };
}

function point(pred: number[], actual: number[]): Metrics | null {
  if (actual.length === 0) return null;
  const m = pointMetrics(pred, actual);
  return { n: m.n, mae_minutes: m.maeMinutes, median_abs_error_minutes: m.medianAbsErrorMinutes, p50_under_rate: m.underRate, accuracy: m.accuracy };
}

/** The newest `limit` jobs (by submission), oldest first. */
export function runtimeAccuracy(records: readonly JobRecord[], m: AccuracyModel, limit: number): AccuracyResult {
  const f = replayFeatures(records);
  const n = f.jobs.length;
  // Training sorted the jobs it had by submission and used the oldest 85 %.
  const known = f.jobs.filter((j) => j.end * 1000 < m.trainedAt).length;
  const seen = Math.floor(known * SEEN_FRACTION);
  const from = Math.max(0, n - limit);
  const count = n - from;
  const pred = predictCalibrated(m.model, f.X.slice(from * FEATURE_COUNT, n * FEATURE_COUNT), count, m.calibration);
  const jobs: AccuracyJob[] = [];
  for (let k = 0; k < count; k++) {
    const i = from + k;
    const j = f.jobs[i]!;
    jobs.push({
      slurmJobId: j.id,
      name: j.jobName,
      submitTime: new Date(j.submit * 1000).toISOString(),
      endTime: new Date(j.end * 1000).toISOString(),
      actualSeconds: j.runtime,
      requestedSeconds: j.requestedTime,
      p10: Math.exp(pred[k * 3]!),
      p50: Math.exp(pred[k * 3 + 1]!),
      p90: Math.exp(pred[k * 3 + 2]!),
      lastTwoSeconds: f.lastTwo[i]!,
      seenInTraining: i < seen,
    });
  }
  const fresh = jobs.map((j, k) => ({ j, k, i: from + k })).filter((x) => !x.j.seenInTraining);
  const actual = fresh.map((x) => x.j.actualSeconds);
  const triples = new Float64Array(fresh.length * 3);
  fresh.forEach((x, q) => {
    triples[q * 3] = x.j.p10;
    triples[q * 3 + 1] = x.j.p50;
    triples[q * 3 + 2] = x.j.p90;
  });
  return {
    jobs,
    metrics: {
      model: fresh.length ? runtimeMetrics(triples, Float64Array.from(actual)) : null,
      requested: point(
        fresh.map((x) => f.requested[x.i]!),
        actual,
      ),
      lastTwo: point(
        fresh.map((x) => x.j.lastTwoSeconds),
        actual,
      ),
    },
  };
}
