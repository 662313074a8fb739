// Split-conformal calibration of the model's outer quantiles (conformalized
// quantile regression, Romano, Patterson and Candès, NeurIPS 2019).
// Quantile trees alone miss their nominal coverage (76 % instead of 80 % on
// the traces, shared/notes/runtime-prediction.md); shifting each end by an
// offset learned on held-out rows restores it with a finite-sample guarantee.
// We use the paper's asymmetric variant: each end is calibrated on its own to
// (1 - target) / 2 misses, because users need the upper bound itself to be
// right (p90 exceeded by ~10 % of jobs), not just the interval's total.
import type { Dataset, QuantileModel } from './gbdt';

/**
 * What the runtime models' p10-p90 interval is calibrated for, in the daemon
 * and in `runtime evaluate`: 82 % coverage with at most 8 % of jobs above
 * p90 (10 % below p10). The upper bound is the one users set --time from; the
 * margin under 10 % absorbs drift between the calibration slice and the jobs
 * predicted later (full trace replays: 8.1-8.4 % above p90, 81.5-81.8 % covered).
 */
export const INTERVAL_CALIBRATION = { target: 0.82, upperMisses: 0.08 } as const;

export interface Calibration {
  /** added to the lowest quantile's prediction (target scale) */
  lower: number;
  /** added to the highest quantile's prediction (target scale) */
  upper: number;
  /** the coverage the offsets were fitted for, e.g. 0.8 */
  coverage: number;
  /** share of the calibration rows inside the interval before the offsets */
  rawCoverage?: number;
  /** share of the calibration rows inside the interval after the offsets */
  calibratedCoverage?: number;
  /** number of calibration rows */
  n?: number;
}

/**
 * Offsets that make [lowest, highest] quantile cover `target` of new rows (from
 * the same distribution as `cal`). The misses are split evenly between the two
 * ends unless `upperMisses` says which share of rows may fall above the upper
 * end (the rest of 1 - target falls below the lower one).
 */
export function calibrate(model: QuantileModel, cal: Dataset, target: number, upperMisses?: number): Calibration {
  if (!(target > 0 && target < 1)) throw new Error('calibrate: target coverage must be in (0, 1)');
  const upperTail = upperMisses ?? (1 - target) / 2;
  const lowerTail = 1 - target - upperTail;
  if (!(upperTail > 0 && lowerTail > 0)) throw new Error('calibrate: upperMisses must be in (0, 1 - target)');
  const { n, y } = cal;
  if (n < 1) throw new Error('calibrate: no calibration rows');
  const { lo, hi, q } = outerColumns(model.quantiles);
  const pred = model.predict(cal.X, n);
  const eLo = new Float64Array(n);
  const eHi = new Float64Array(n);
  let inside = 0;
  for (let i = 0; i < n; i++) {
    const a = pred[i * q + lo];
    const b = pred[i * q + hi];
    // Positive score: y fell outside that end by this much.
    eLo[i] = a - y[i];
    eHi[i] = y[i] - b;
    if (y[i] >= a && y[i] <= b) inside++;
  }
  const lower = -conformalQuantile(eLo, 1 - lowerTail);
  const upper = conformalQuantile(eHi, 1 - upperTail);
  let after = 0;
  for (let i = 0; i < n; i++) {
    if (y[i] >= pred[i * q + lo] + lower && y[i] <= pred[i * q + hi] + upper) after++;
  }
  return { lower, upper, coverage: target, rawCoverage: inside / n, calibratedCoverage: after / n, n };
}

/**
 * The ceil((n+1)·level)-th smallest score: the finite-sample conformal
 * quantile. With too few rows for that rank the largest score is used
 * (the guarantee then does not hold; callers should hold out enough rows).
 */
function conformalQuantile(scores: Float64Array, level: number): number {
  const n = scores.length;
  scores.sort();
  const k = Math.min(n, Math.ceil((n + 1) * level));
  return scores[Math.max(0, k - 1)];
}

function outerColumns(quantiles: number[]): { lo: number; hi: number; q: number } {
  let lo = 0;
  let hi = 0;
  for (let j = 1; j < quantiles.length; j++) {
    if (quantiles[j] < quantiles[lo]) lo = j;
    if (quantiles[j] > quantiles[hi]) hi = j;
  }
  return { lo, hi, q: quantiles.length };
}

/**
 * Calibrated predictions: the offsets on the outer quantiles, then each row's
 * values sorted ascending and written back in the order of ascending
 * quantiles (rearrangement, Chernozhukov et al. 2010), so p10 ≤ p50 ≤ p90 even
 * where separately trained ensembles cross. Without a calibration only the
 * rearrangement is applied. Returns a new n×q array; `pred` is untouched.
 */
export function applyCalibration(pred: Float64Array, n: number, quantiles: number[], calibration?: Calibration): Float64Array {
  const q = quantiles.length;
  const out = Float64Array.from(pred.subarray(0, n * q));
  const { lo, hi } = outerColumns(quantiles);
  // Columns in ascending quantile order, so sorted values land in the right place whatever the model's order.
  const cols = quantiles.map((_, j) => j).sort((a, b) => quantiles[a] - quantiles[b]);
  const row = new Float64Array(q);
  for (let i = 0; i < n; i++) {
    const o = i * q;
    if (calibration) {
      out[o + lo] += calibration.lower;
      out[o + hi] += calibration.upper;
    }
    for (let j = 0; j < q; j++) row[j] = out[o + j];
    row.sort();
    for (let j = 0; j < q; j++) out[o + cols[j]] = row[j];
  }
  return out;
}

/** model.predict followed by applyCalibration: what the exported ONNX model computes. */
export function predictCalibrated(model: QuantileModel, X: Float64Array, n: number, calibration?: Calibration): Float64Array {
  return applyCalibration(model.predict(X, n), n, model.quantiles, calibration);
}
